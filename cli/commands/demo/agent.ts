/**
 * The demo's stand-in workloads and probes, run as their own process (`node agent.js '<json>'`) so that in netns
 * mode they run inside a pod's namespace through `ip netns exec`, exactly like an app container would. One JSON
 * line on stdout per result; `serve` prints "listening", then "served …" per request, and runs until SIGTERM.
 *
 * Ops: serve (a tiny HTTP app), requests (N GETs, a new connection each), plaintext (one plain HTTP request to a
 * port and what came back), get (poll a URL until it answers 200 or the time is up).
 */
import { request, createServer } from 'node:http';
import { connect } from 'node:net';

/** What the agent is asked to do. */
export type AgentOp =
  | { readonly op: 'serve'; readonly host: string; readonly port: number; readonly name: string }
  | { readonly op: 'requests'; readonly url: string; readonly count: number }
  | { readonly op: 'plaintext'; readonly host: string; readonly port: number; readonly timeoutMs: number }
  | { readonly op: 'get'; readonly url: string; readonly waitMs: number };

/** Result of `requests`. */
export interface RequestsResult {
  readonly ok: number;
  readonly failed: number;
  /** Distinct response bodies of the successful requests. */
  readonly bodies: readonly string[];
  /** Distinct error messages of the failed ones. */
  readonly errors: readonly string[];
}

/** Result of `plaintext`. */
export interface PlaintextResult {
  readonly connected: boolean;
  /** Bytes the far side sent back (an HTTP response would start with "HTTP/"). */
  readonly received: string;
  /** How the connection ended: closed, reset, timeout, or the connect error. */
  readonly ending: string;
}

/** Result of `get`. */
export interface GetResult {
  readonly status: number;
  readonly body: string;
}

function oneRequest(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // agent: false → a new TCP connection (and so a new mTLS connection between the sidecars) per request.
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', reject);
    req.end();
  });
}

async function requests(url: string, count: number): Promise<RequestsResult> {
  let ok = 0;
  const bodies = new Set<string>();
  const errors = new Set<string>();
  for (let i = 0; i < count; i++) {
    try {
      const res = await oneRequest(url);
      if (res.status === 200) {
        ok++;
        bodies.add(res.body.trim());
      } else errors.add(`HTTP ${res.status}`);
    } catch (err) {
      errors.add(err instanceof Error ? err.message : String(err));
    }
  }
  return { ok, failed: count - ok, bodies: [...bodies], errors: [...errors] };
}

function plaintext(host: string, port: number, timeoutMs: number): Promise<PlaintextResult> {
  return new Promise((resolve) => {
    let connected = false;
    let received = '';
    const s = connect({ host, port });
    const done = (ending: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ connected, received, ending });
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.on('connect', () => {
      connected = true;
      s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    s.on('data', (d: Buffer) => (received += d.toString('latin1')));
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNRESET' ? 'reset' : (err.code ?? err.message)));
    s.on('close', () => done('closed'));
  });
}

async function get(url: string, waitMs: number): Promise<GetResult> {
  const end = Date.now() + waitMs;
  let last: GetResult = { status: 0, body: 'no answer' };
  for (;;) {
    try {
      last = await oneRequest(url);
      if (last.status === 200) return last;
    } catch (err) {
      last = { status: 0, body: err instanceof Error ? err.message : String(err) };
    }
    if (Date.now() >= end) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function serve(host: string, port: number, name: string): void {
  const server = createServer((req, res) => {
    // One line per request served, so the demo can count what reached the app (and what did not).
    process.stdout.write(`served ${req.method ?? ''} ${req.url ?? ''}\n`);
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from ${name}\n`);
    req.resume();
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
  });
}

const arg = process.argv[2];
if (arg !== undefined) {
  const op = JSON.parse(arg) as AgentOp;
  const print = (v: unknown): void => void process.stdout.write(JSON.stringify(v) + '\n');
  if (op.op === 'serve') serve(op.host, op.port, op.name);
  else if (op.op === 'requests') print(await requests(op.url, op.count));
  else if (op.op === 'plaintext') print(await plaintext(op.host, op.port, op.timeoutMs));
  else print(await get(op.url, op.waitMs));
}
