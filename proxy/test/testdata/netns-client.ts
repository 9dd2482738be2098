/**
 * One-shot client for the transparent-path namespace test, started inside the client namespace
 * (`ip netns exec NS node netns-client.js JSON`). It connects (plain TCP, or TLS with an optional client
 * certificate), writes `text`, half-closes, reads until the peer ends or `timeoutMs` passes, and prints one JSON
 * line: {connected, secure, reused, session?, data, error?}. `connected` = the TCP connection was established;
 * `session` = the last TLS session the server handed out (base64), which a later request may offer as `session`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

interface Request {
  readonly host: string;
  readonly port: number;
  readonly text: string;
  readonly timeoutMs: number;
  /** TLS with the server checked against `ca` (any name); `cert`/`key` = client certificate. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string; readonly session?: string };
}

const req = JSON.parse(process.argv[2] ?? '{}') as Request;
let connected = false;
let secure = false;
let reused = false;
let session: string | undefined;
const parts: Buffer[] = [];
let done = false;

function finish(error?: string): void {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify({ connected, secure, reused, ...(session ? { session } : {}), data: Buffer.concat(parts).toString(), ...(error ? { error } : {}) }) + '\n');
  // Nothing else keeps the process alive (the timer is unref'd), so it exits once the socket is gone.
  s.destroy();
}

const timer = setTimeout(() => finish('timeout'), req.timeoutMs);
timer.unref();

function open(): Socket {
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
}

const s = open();
s.once('connect', () => {
  connected = true;
});
s.on('data', (d: Buffer) => parts.push(d));
s.once('end', () => finish());
s.once('close', () => finish());
s.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
