/**
 * The e2e suite's workload: a TCP echo server started inside a pod namespace
 * (`ip netns exec NS node app.js NAME PORT [CONFIG_FILE]`). It listens on 0.0.0.0:PORT, like an ordinary app that
 * binds every address, and answers each chunk with `NAME:<chunk>` — or, given CONFIG_FILE, the chunk `?config` with
 * `NAME:<the file's content, read now>` (an app reading its mounted config). It reports on stdout, one JSON line each:
 *   {event:'listening', port}
 *   {event:'accept', conn, remoteAddress, remotePort}
 *   {event:'data', conn, remoteAddress, text}
 * so a test can tell what reached the app and from where. It exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const name = process.argv[2] ?? 'app';
const port = Number(process.argv[3] ?? '8080');
const configFile = process.argv[4];
let next = 0;
const open = new Set<Socket>();

function say(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const server = createServer((s) => {
  const conn = ++next;
  const remoteAddress = s.remoteAddress;
  say({ event: 'accept', conn, remoteAddress, remotePort: s.remotePort });
  open.add(s);
  s.once('close', () => open.delete(s));
  s.setNoDelay(true);
  s.on('data', (d: Buffer) => {
    say({ event: 'data', conn, remoteAddress, text: d.toString() });
    const text = d.toString();
    s.write(`${name}:${configFile !== undefined && text === '?config' ? readFileSync(configFile, 'utf8') : text}`);
  });
  s.on('error', () => s.destroy());
});
server.listen({ host: '0.0.0.0', port }, () => say({ event: 'listening', port }));
process.stdin.resume();
process.stdin.on('end', () => {
  server.close();
  // Open connections would keep the loop alive; the app's life ends with the test's handle.
  for (const s of open) s.destroy();
});
