/**
 * The e2e suite's impostor: a TLS server the attacker runs at an address it took over
 * (`ip netns exec NS node fake-server.js JSON`, JSON = {port, cert, key}). It listens on [::]:PORT (IPv4 too), shows
 * the certificate chain it was given, asks for no client certificate, and reports on stdout, one JSON line each:
 *   {event:'listening', port}
 *   {event:'accept', remoteAddress}            a TCP connection arrived
 *   {event:'secure', remoteAddress}            a TLS handshake completed (the client accepted our certificate)
 *   {event:'tls-error', message}               a handshake failed
 *   {event:'data', remoteAddress, text}        application bytes arrived
 * so a test can tell whether the client ever trusted it or sent it anything. It exits when stdin closes.
 */
import { createServer, type TLSSocket } from 'node:tls';

const { port, cert, key } = JSON.parse(process.argv[2] ?? '{}') as { port: number; cert: string; key: string };
const open = new Set<TLSSocket>();

function say(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const server = createServer({ cert, key, requestCert: false }, (s) => {
  const remoteAddress = s.remoteAddress;
  say({ event: 'secure', remoteAddress });
  open.add(s);
  s.once('close', () => open.delete(s));
  s.on('data', (d: Buffer) => say({ event: 'data', remoteAddress, text: d.toString() }));
  s.on('error', () => s.destroy());
});
server.on('connection', (sock: { remoteAddress?: string }) => say({ event: 'accept', remoteAddress: sock.remoteAddress }));
server.on('tlsClientError', (err) => say({ event: 'tls-error', message: err.message }));
server.listen({ host: '::', port, ipv6Only: false }, () => say({ event: 'listening', port }));
process.stdin.resume();
process.stdin.on('end', () => {
  server.close();
  for (const s of open) s.destroy();
});
