/**
 * The egress side resumes TLS sessions: the second connection through an egress listener offers the session the
 * server handed out on the first, and the server resumes it (no certificate exchange). The session is set on the
 * socket once (`outbound/upstream.ts`), not through `tls.connect`'s `session` option; this shows it still reaches
 * the handshake. The server is a plain `tls.Server` with db's mesh leaf, so it can report `isSessionReused()`.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { parseEgressSpec } from '../../lib/mesh-config/egress.js';
import { PROXY_DEFAULTS } from '../config.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, testConfig, testLogger } from './support.js';

const EGRESS_IP = '127.0.0.9';

for (const tunnel of [false, true]) {
  // Tunnel on (the default): the first connection offers the tunnel, this server declines it and the connection
  // becomes per-connection mTLS; its session must be kept all the same, or every peer without the tunnel would pay a
  // second full handshake.
  void t.test(`the second egress connection resumes the first one's TLS session (tunnel ${tunnel ? 'on, declined by the peer' : 'off'})`, async (t) => {
  const mesh = await TestMesh.create();
  const db = await mesh.leaf(['db', 'db.shop.svc', 'localhost'], { workload: 'db' });
  const web = await mesh.leaf(['web', 'web.shop.svc'], { workload: 'web' });
  const dir = writeTlsDir(web.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const reused: boolean[] = [];
  // The client leaf is not checked here (rejectUnauthorized: false): this server only reports resumption.
  const server = createTlsServer({ key: db.files.key, cert: db.files.chain, ca: db.files.meshCaBundle, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (s: TLSSocket) => {
    reused.push(s.isSessionReused());
    s.on('error', () => undefined);
    s.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const parsed = parseEgressSpec(`db#${EGRESS_IP}:1#127.0.0.1:${port}#db.shop.svc`, '--egress');
  t.same(parsed.issues, [], 'the spec parses');
  const client = await startProxy(testConfig({ tlsDir: dir, tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: tunnel }, egress: parsed.entries.map((e) => ({ ...e, listen: { host: EGRESS_IP, port: 0 } })) }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await client.drain();
    server.close();
  });
  const via = async (): Promise<string> => {
    const s = connect({ host: EGRESS_IP, port: client.ports.get('db')!, allowHalfOpen: true });
    s.once('connect', () => s.end('hello'));
    return readAll(s).then((b) => b.toString(), () => '');
  };

  t.equal(await via(), 'ok', 'first connection: full handshake, answered');
  // TLS 1.3 tickets arrive after the handshake; the egress keeps the one that came with the first connection.
  t.equal(await via(), 'ok', 'second connection: answered');
  t.same(reused, [false, true], 'the server resumed the session on the second connection');
});
}
