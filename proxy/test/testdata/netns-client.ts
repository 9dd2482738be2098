/**
 * Client for the namespace tests, started inside the client namespace. One attempt: it connects (plain TCP, or TLS
 * with an optional client certificate), writes `text`, half-closes, reads until the peer ends or `timeoutMs` passes,
 * and answers one JSON line: {connected, secure, reused, session?, data, error?}. `connected` = the TCP connection
 * was established; `session` = the last TLS session the server handed out (base64), which a later request may offer
 * as `session`.
 *
 *   `ip netns exec NS node netns-client.js JSON`     one attempt, then the process exits;
 *   `ip netns exec NS node netns-client.js --serve`  one attempt per JSON line on stdin ({id, ...request}), each
 *                                                    answered by a line {id, ...result}; attempts may overlap. Each
 *                                                    opens its own socket, exactly as the one-shot form; only the
 *                                                    node start-up per attempt is saved. It exits when stdin closes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

interface Request {
  readonly host: string;
  readonly port: number;
  readonly text: string;
  readonly timeoutMs: number;
  /** TLS with the server checked against `ca` (any name); `cert`/`key` = client certificate. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string; readonly session?: string };
}

interface Result {
  readonly connected: boolean;
  readonly secure: boolean;
  readonly reused: boolean;
  readonly session?: string;
  readonly data: string;
  readonly error?: string;
}

/** One attempt on a socket of its own; resolves once, when the peer ends, the socket fails or `timeoutMs` passes. */
function attempt(req: Request): Promise<Result> {
  return new Promise((resolve) => {
    let connected = false;
    let secure = false;
    let reused = false;
    let session: string | undefined;
    const parts: Buffer[] = [];
    let done = false;

    const open = (): Socket => {
      if (!req.tls) {
        const p = netConnect({ host: req.host, port: req.port, allowHalfOpen: true });
        p.once('connect', () => p.end(req.text));
        return p;
      }
      // allowHalfOpen reaches the socket through tls.connect's options; @types/node does not list it.
      const opts: ConnectionOptions & { allowHalfOpen: boolean } = {
        host: req.host, port: req.port, ca: req.tls.ca, checkServerIdentity: () => undefined, allowHalfOpen: true,
        ...(req.tls.cert ? { cert: req.tls.cert, key: req.tls.key } : {}),
        ...(req.tls.session ? { session: Buffer.from(req.tls.session, 'base64') } : {}),
      };
      const t = tlsConnect(opts);
      t.on('session', (b: Buffer) => {
        session = b.toString('base64');
      });
      t.once('secureConnect', () => {
        connected = true;
        secure = true;
        reused = t.isSessionReused();
        t.end(req.text);
      });
      return t;
    };

    const s = open();
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ connected, secure, reused, ...(session ? { session } : {}), data: Buffer.concat(parts).toString(), ...(error ? { error } : {}) });
      s.destroy();
    };
    // unref'd: in the one-shot form nothing but the socket keeps the process alive.
    const timer = setTimeout(() => finish('timeout'), req.timeoutMs);
    timer.unref();
    s.once('connect', () => {
      connected = true;
    });
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => finish());
    s.once('close', () => finish());
    s.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

if (process.argv[2] === '--serve') {
  createInterface({ input: process.stdin }).on('line', (line) => {
    const { id, ...req } = JSON.parse(line) as Request & { id: number };
    void attempt(req).then((r) => process.stdout.write(JSON.stringify({ id, ...r }) + '\n'));
  });
} else {
  const r = await attempt(JSON.parse(process.argv[2] ?? '{}') as Request);
  process.stdout.write(JSON.stringify(r) + '\n');
}
