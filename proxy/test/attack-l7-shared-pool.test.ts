/**
 * Attack: response-queue poisoning across peers on the inbound L7 path. The sidecar sends `+http` requests to the app
 * over keep-alive HTTP/1.1 connections; if peers shared them, a peer (genuine leaf `web`) could smuggle a second
 * request inside the body of its own to an app endpoint that does not read bodies (a "CL.0" app, a common app bug),
 * and the answer to the smuggled request would be read as the answer to the next request on that connection — another
 * peer's (`db`). Per connection (L4) every peer has its own app connection; L7 must keep that isolation: app
 * connections are never shared between peer identities.
 */
import t from 'tap';
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { systemClock } from '../../lib/clock.js';
import { PROXY_DEFAULTS } from '../config.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { testConfig, testLogger } from './support.js';
import { h2Request, rawTunnel } from './tunnel-client.js';

/** The body of the answer to one request (empty when the stream was reset). */
async function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<string> {
  return (await h2Request(session, headers, body)).body;
}

/**
 * A CL.0 app: it never reads a body (bytes after a head are parsed as the next request) and answers in order; the
 * answer to `/poison` waits until the next request arrives on its connection, then goes out first.
 */
function cl0App(): { server: ReturnType<typeof createServer>; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const resp = (b: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let held = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const path = buf.slice(0, i).split(' ')[1] ?? '';
        buf = buf.slice(i + 4);
        if (path === '/poison') {
          held = true;
          continue;
        }
        if (held) {
          held = false;
          s.write(resp('poison'));
        }
        s.write(resp(path === '/static' ? 'static' : `you asked ${path}`));
      }
    });
  });
  return { server, sockets };
}

void t.test('attack: a peer smuggling through a CL.0 app never poisons another peer\'s answers', async (t) => {
  const mesh = await TestMesh.create();
  const api = await mesh.leaf(['api']);
  const web = await mesh.leaf(['web']);
  const db = await mesh.leaf(['db']);
  const dir = writeTlsDir(api.files);
  const app = cl0App();
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
  const ingress = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true },
    inbound: [{ name: 'web', appPort: (app.server.address() as AddressInfo).port, listenPort: 0, mode: { kind: 'mtls', allow: [], protocol: 'http' } }],
  }), { clock: systemClock, logger: testLogger });
  const port = ingress.ports.get('web')!;
  const attacker = await rawTunnel(mesh, port, web.files);
  const victim = await rawTunnel(mesh, port, db.files);
  t.teardown(async () => {
    attacker.destroy();
    victim.destroy();
    await ingress.drain();
    for (const s of app.sockets) s.destroy();
    await new Promise<void>((r) => app.server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const req = (method: string, path: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({ ':method': method, ':scheme': 'http', ':authority': `127.0.0.1:${port}`, ':path': path, ...extra });
  const smuggled = 'GET /poison HTTP/1.1\r\nHost: x\r\n\r\n';
  t.equal(await send(attacker, req('POST', '/static', { 'content-length': String(smuggled.length) }), smuggled), 'static', 'the attacker\'s own request is answered');
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await send(victim, req('GET', `/private${i}`)));
  t.same(answers, [0, 1, 2, 3].map((i) => `you asked /private${i}`), 'every answer the victim gets is to its own request');
});
