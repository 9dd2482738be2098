/**
 * The inbound accept/refuse matrix over loopback: each kind of client is admitted or refused as the port's mode
 * says, refusals are counted by reason, and a refused client never produces a connection at the app.
 */
import t from 'tap';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { rmSync } from 'node:fs';
import { FixedClock } from '../../lib/clock.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp, testConfig, testLogger } from './support.js';
import { systemClock } from '../../lib/clock.js';

type Creds = { key: string; chain: string } | undefined;

/** Sends `hello` through TLS, half-closes, returns what came back ('' when refused). */
function tlsAttempt(port: number, ca: string, creds: Creds): Promise<string> {
  return new Promise((resolve) => {
    const opts: ConnectionOptions & { allowHalfOpen: boolean } = { host: '127.0.0.1', port, ca, ...(creds ? { key: creds.key, cert: creds.chain } : {}), checkServerIdentity: () => undefined, allowHalfOpen: true };
    const s = tlsConnect({ ...opts, allowPartialTrustChain: true });
    s.once('secureConnect', () => s.end('hello'));
    readAll(s).then((b) => resolve(b.toString()), () => resolve(''));
  });
}

function plainAttempt(port: number): Promise<string> {
  const s = netConnect({ host: '127.0.0.1', port });
  s.once('connect', () => s.end('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
  return readAll(s).then((b) => b.toString(), () => '');
}

const HELLO_HASH = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5\n';

void t.test('inbound accept/refuse matrix', async (t) => {
  const mesh = await TestMesh.create();
  const other = await TestMesh.create('other.local');
  const server = await mesh.leaf(['api', 'api.default.svc']);
  const dir = writeTlsDir(server.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const app = new TestApp();
  const appPort = await app.listen();
  const app2 = new TestApp();
  const app2Port = await app2.listen();
  const app3 = new TestApp();
  const app3Port = await app3.listen();
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    inbound: [
      { name: 'open', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'strict', appPort: app2Port, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc', 'spiffe://ccmesh.local/batch'] } },
      { name: 'public', appPort: app3Port, listenPort: 0, mode: { kind: 'tls' } },
    ],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await proxy.drain();
    await Promise.all([app.close(), app2.close(), app3.close()]);
  });
  const port = (n: string): number => proxy.ports.get(n)!;
  const ca = mesh.bundle();

  const good = (await mesh.leaf(['web', 'web.default.svc'])).files;
  const batch = (await mesh.leaf(['batch'], { workload: 'batch' })).files;
  const stranger = (await other.leaf(['web.default.svc'])).files;
  const expired = (await mesh.leaf(['web.default.svc'], { clock: new FixedClock(Date.now() - 3 * 3600_000), lifetimeMs: 3600_000 })).files;
  const notAllowed = (await mesh.leaf(['db.default.svc'])).files;

  t.equal(await tlsAttempt(port('open'), ca, good), HELLO_HASH, 'mesh leaf → mTLS port: admitted');
  t.equal(await tlsAttempt(port('strict'), ca, good), HELLO_HASH, 'allowed DNS SAN → allow-listed port: admitted');
  t.equal(await tlsAttempt(port('strict'), ca, batch), HELLO_HASH, 'allowed spiffe URI SAN → allow-listed port: admitted');
  t.equal(await tlsAttempt(port('public'), ca, undefined), HELLO_HASH, 'no client cert → TLS-only port: admitted');
  t.equal(await tlsAttempt(port('open'), ca, notAllowed), HELLO_HASH, 'any mesh identity → port without allow-list: admitted');
  const admitted = { open: 2, strict: 2, public: 1 };

  t.equal(await tlsAttempt(port('open'), ca, undefined), '', 'no client cert → mTLS port: refused');
  t.equal(await tlsAttempt(port('open'), ca, stranger), '', 'cert from another CA: refused');
  t.equal(await tlsAttempt(port('open'), ca, expired), '', 'expired cert: refused');
  t.equal(await tlsAttempt(port('strict'), ca, notAllowed), '', 'SAN not in the allow-list: refused');
  t.equal(await plainAttempt(port('open')), '', 'plaintext to an mTLS port: refused');
  t.equal(await plainAttempt(port('public')), '', 'plaintext to a TLS-only port: refused');

  t.equal(app.connections, admitted.open, 'the app behind the mTLS port saw only admitted connections');
  t.equal(app2.connections, admitted.strict, 'the app behind the allow-listed port saw only admitted connections');
  t.equal(app3.connections, admitted.public, 'the app behind the TLS-only port saw only admitted connections');

  const failures = await proxy.metrics.handshakeFailures.get();
  const count = (reason: string): number => failures.values.filter((v) => v.labels.reason === reason && v.labels.direction === 'inbound').reduce((a, v) => a + v.value, 0);
  t.equal(count('no-client-cert'), 1, 'counted: no-client-cert');
  t.equal(count('untrusted-cert'), 1, 'counted: untrusted-cert');
  t.equal(count('cert-expired'), 1, 'counted: cert-expired');
  t.equal(count('san-not-allowed'), 1, 'counted: san-not-allowed');
  t.equal(count('not-tls'), 2, 'counted: not-tls');
  // Labelled by each route's app port (the listeners' own ephemeral ports say nothing), and the client's workload.
  const ok = (await proxy.metrics.connections.get()).values.filter((v) => v.labels.direction === 'inbound' && v.labels.result === 'ok' && v.value > 0);
  t.equal(ok.reduce((a, v) => a + v.value, 0), 5, 'five admitted connections counted ok');
  t.ok(ok.every((v) => [appPort, app2Port, app3Port].map(String).includes(String(v.labels.port))), 'each on its route\'s app port');
});
