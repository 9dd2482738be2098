/**
 * Attacks on the L7 path through the app's answers: a mesh peer (a genuine leaf, `web`) makes the app behind an
 * `mtls+http` port answer something an HTTP/1.1 client takes but HTTP/2 refuses to carry, e.g. a field HTTP/2 allows
 * once (`Content-Type`, `Date`, `Location`, …) given twice. The inbound sidecar must answer that one request with an
 * error and keep serving; it must never crash on it (an unhandled rejection ends the Node process: every connection
 * of the pod would go with it).
 */
import t from 'tap';
import { connect as h2Connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { TUNNEL_ALPN } from '../tunnel/protocol.js';
import { startL7Rig } from './l7-rig.js';

async function rawTunnel(port: number, files: { key: string; chain: string }, ca: string): Promise<ClientHttp2Session> {
  const tls = tlsConnect({ host: '127.0.0.1', port, key: files.key, cert: files.chain, ca, allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
  tls.on('error', () => undefined);
  await new Promise((r) => tls.once('secureConnect', r));
  if (tls.alpnProtocol !== TUNNEL_ALPN) throw new Error('no tunnel');
  const session = h2Connect('http://x', { createConnection: () => tls });
  session.on('error', () => undefined);
  return session;
}

function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const r = session.request(headers, { endStream: true });
    const timer = setTimeout(() => {
      resolve({ status: -1, body: '' });
      r.close();
    }, 10_000);
    r.once('close', () => clearTimeout(timer));
    let text = '';
    let status = 0;
    r.setEncoding('utf8');
    r.on('error', () => undefined);
    r.on('response', (h) => (status = Number(h[':status'])));
    r.on('data', (d: string) => (text += d));
    r.on('close', () => resolve({ status, body: text }));
  });
}

void t.test('attack: an app answer HTTP/2 cannot carry (a single-value field twice) does not crash the sidecar', async (t) => {
  const rig = await startL7Rig(t);
  const rejections: unknown[] = [];
  const onRejection = (err: unknown): void => {
    rejections.push(err);
  };
  // Caught here so that the test reports it (without it, the process — the sidecar in production — dies).
  process.on('unhandledRejection', onRejection);
  t.teardown(() => process.off('unhandledRejection', onRejection));
  const session = await rawTunnel(rig.in('web'), rig.files.web, rig.mesh.bundle());
  t.teardown(() => session.destroy());
  const req = (path: string): OutgoingHttpHeaders => ({ ':method': 'GET', ':scheme': 'http', ':authority': `127.0.0.1:${rig.in('web')}`, ':path': path });
  const dup = await send(session, req('/dup'));
  t.equal(dup.status, 502, 'the answer HTTP/2 cannot carry is a 502');
  // Let any rejection of that request surface before checking.
  await new Promise((r) => setImmediate(r));
  t.same(rejections.map((e) => (e as { code?: string }).code ?? String(e)), [], 'no unhandled rejection in the sidecar');
  const after = await send(session, req('/'));
  t.equal(after.status, 200, 'the sidecar keeps serving the same pooled connection');
  t.equal(after.body, 'hello');
});
