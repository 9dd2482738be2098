/**
 * Test helper process, started inside a network namespace (`ip netns exec NS node netns-agent.js`). It takes JSON
 * commands on stdin, one per line, and answers with JSON lines on stdout:
 *   {op:'listen', id, host, port, transparent}     → {id, ok}; every accepted connection prints
 *                                                    {event:'accept', port, localAddress, localPort, remoteAddress}
 *                                                    and is echoed back prefixed with `<listening port>:`
 *   {op:'connect', id, host, port, timeoutMs}       → {id, ok, localAddress, localPort} or {id, ok:false, error}
 *   {op:'send', id, conn, text, timeoutMs}          → {id, ok, data} (the first reply chunk) or {id, ok:false, error}
 * It exits when stdin closes.
 */
import { createServer, type Server, Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { setTransparent } from '../../../lib/net/transparent.js';

interface Command {
  readonly op: 'listen' | 'connect' | 'send';
  readonly id: number;
  readonly host?: string;
  readonly port?: number;
  readonly transparent?: boolean;
  readonly timeoutMs?: number;
  readonly conn?: number;
  readonly text?: string;
}

const servers: Server[] = [];
const conns = new Map<number, Socket>();

function say(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function listen(c: Command): void {
  const port = c.port!;
  const server = createServer((s) => {
    say({ event: 'accept', port, localAddress: s.localAddress, localPort: s.localPort, remoteAddress: s.remoteAddress });
    s.on('data', (d) => s.write(`${port}:${d.toString()}`));
    s.on('error', () => s.destroy());
  });
  servers.push(server);
  server.on('error', (err) => say({ id: c.id, ok: false, error: err.message }));
  server.listen({ host: c.host, port }, () => {
    if (!c.transparent) {
      say({ id: c.id, ok: true });
      return;
    }
    setTransparent(server).then(
      () => say({ id: c.id, ok: true }),
      (err: unknown) => say({ id: c.id, ok: false, error: String(err) }),
    );
  });
}

function connect(c: Command): void {
  const s = new Socket();
  const timer = setTimeout(() => {
    s.destroy();
    say({ id: c.id, ok: false, error: 'timeout' });
  }, c.timeoutMs ?? 1500);
  s.once('error', (err) => {
    clearTimeout(timer);
    say({ id: c.id, ok: false, error: err.message });
  });
  s.connect({ host: c.host!, port: c.port! }, () => {
    clearTimeout(timer);
    s.removeAllListeners('error');
    s.on('error', () => s.destroy());
    conns.set(c.id, s);
    say({ id: c.id, ok: true, localAddress: s.localAddress, localPort: s.localPort });
  });
}

function send(c: Command): void {
  const s = conns.get(c.conn!);
  if (!s || s.destroyed) {
    say({ id: c.id, ok: false, error: 'no such connection' });
    return;
  }
  const timer = setTimeout(() => {
    s.off('data', onData);
    say({ id: c.id, ok: false, error: 'timeout' });
  }, c.timeoutMs ?? 1500);
  const onData = (d: Buffer): void => {
    clearTimeout(timer);
    say({ id: c.id, ok: true, data: d.toString() });
  };
  s.once('data', onData);
  s.write(c.text ?? '');
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const c = JSON.parse(line) as Command;
  if (c.op === 'listen') listen(c);
  else if (c.op === 'connect') connect(c);
  else send(c);
});
rl.on('close', () => {
  for (const s of conns.values()) s.destroy();
  for (const s of servers) s.close();
  // Nothing else keeps the loop alive, so the process ends here.
});
