/**
 * A pooled tunnel connection is always a full, verified handshake — never a resumed session — even when the same
 * egress holds a session for that very server from its per-connection path (a fallback). A resumed session has no
 * certificate exchange, and every stream on a pooled connection is judged by the identity of that connection's
 * handshake. The server here is hand-made (TLS with ALPN ccmesh-tunnel/1, HTTP/2 CONNECT behind it) so it can report
 * `isSessionReused()` for each connection.
 *
 * Sequence, with --tunnel-pool 1 --tunnel-streams 1: app connection 1 opens pooled connection A (its stream stays
 * open); 2 and 3 find the pool full and go per connection (2 a full handshake, 3 resumes 2's session: the cache has a
 * session for this server); then A ends and app connection 4 needs a new pooled connection B, which must not resume.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { createServer as createH2Server, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { parseEgressSpec } from '../../lib/mesh-config/egress.js';
import { PROXY_DEFAULTS } from '../config.js';
import { TUNNEL_ALPN } from '../tunnel/protocol.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { testConfig, testLogger } from './support.js';
import { metricSum } from './tunnel-client.js';

const EGRESS_IP = '127.0.0.9';

void t.test('a pooled connection never resumes a TLS session, though the per-connection path holds one for the same server', async (t) => {
  const mesh = await TestMesh.create();
  const db = await mesh.leaf(['db', 'db.shop.svc'], { workload: 'db' });
  const web = await mesh.leaf(['web', 'web.shop.svc'], { workload: 'web' });
  const dir = writeTlsDir(web.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const handshakes: { alpn: string | false | null; reused: boolean }[] = [];
  const sessions: Http2Session[] = [];
  const h2 = createH2Server();
  h2.on('session', (s: Http2Session) => sessions.push(s));
  h2.on('stream', (stream: ServerHttp2Stream) => {
    stream.respond({ ':status': 200 });
    stream.on('error', () => undefined);
    stream.pipe(stream);
  });
  const server = createTlsServer(
    { key: db.files.key, cert: db.files.chain, ca: db.files.meshCaBundle, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: [TUNNEL_ALPN], ticketKeys: randomBytes(48) },
    (s: TLSSocket) => {
      handshakes.push({ alpn: s.alpnProtocol, reused: s.isSessionReused() });
      s.on('error', () => undefined);
      if (s.alpnProtocol === TUNNEL_ALPN) h2.emit('connection', s);
      else s.pipe(s);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const parsed = parseEgressSpec(`db#${EGRESS_IP}:1#127.0.0.1:${port}#db.shop.svc`, '--egress');
  t.same(parsed.issues, []);
  const client = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true, poolSize: 1, maxStreams: 1 },
    egress: parsed.entries.map((e) => ({ ...e, listen: { host: EGRESS_IP, port: 0 } })),
  }), { clock: systemClock, logger: testLogger });
  const open: Socket[] = [];
  t.teardown(async () => {
    for (const s of open) s.destroy();
    for (const s of sessions) s.destroy();
    await client.drain();
    server.close();
  });
  /** An app connection through the egress that echoes `text` back (and stays open). */
  const echo = async (text: string): Promise<string> => {
    const s = connect({ host: EGRESS_IP, port: client.ports.get('db')! });
    open.push(s);
    s.on('error', () => undefined);
    s.write(text);
    return new Promise((resolve) => {
      let got = '';
      const timer = setTimeout(() => resolve(`timeout after "${got}"`), 10_000);
      s.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= text.length) {
          clearTimeout(timer);
          resolve(got);
        }
      });
    });
  };

  t.equal(await echo('one'), 'one', 'app connection 1: over pooled connection A');
  t.equal(await echo('two'), 'two', 'app connection 2: the pool is full, per connection');
  // TLS 1.3 tickets arrive after the handshake: give the second connection's ticket time to reach the cache.
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await echo('three'), 'three', 'app connection 3: per connection again');
  t.equal(await metricSum(client, 'ccmesh_proxy_tunnel_fallbacks_total', { reason: 'pool-full' }), 2, 'two went per connection (pool full)');
  // Pooled connection A goes away (the server ends it); the next app connection needs a new pooled connection.
  for (const s of sessions.splice(0)) s.destroy();
  for (const s of open.splice(0)) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await echo('four'), 'four', 'app connection 4: over a new pooled connection B');

  const pooled = handshakes.filter((h) => h.alpn === TUNNEL_ALPN);
  const perConnection = handshakes.filter((h) => h.alpn !== TUNNEL_ALPN);
  t.equal(pooled.length, 2, `two pooled connections were made (${JSON.stringify(handshakes)})`);
  t.same(perConnection.map((h) => h.reused), [false, true], 'the per-connection path resumes: the cache holds a session for this server');
  t.same(pooled.map((h) => h.reused), [false, false], 'neither pooled connection resumed a session: each is a full, verified handshake');
});
