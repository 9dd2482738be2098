/**
 * The per-source bound on unauthenticated connections, through the real listeners: a connection on a TLS-only port
 * never gets a verified mesh identity, so it keeps its source's slot for as long as it is open, while an mTLS
 * connection the identity gate admitted gives its slot back. With two slots per source, two idle TLS-only
 * connections use up the source; the third is refused before TLS and counted `too-many-from-source`.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';

void t.test('a TLS-only connection holds its source slot while open; an admitted mTLS connection does not', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['api', 'api.default.svc'])).files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    maxUnauthenticatedPerSource: 2,
    inbound: [
      { name: 'open', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'public', appPort, listenPort: 0, mode: { kind: 'tls' } },
    ],
  }), { clock: systemClock, logger: testLogger });
  const held: TLSSocket[] = [];
  t.teardown(async () => {
    for (const s of held) s.destroy();
    await proxy.drain();
    await app.close();
  });
  const client = (await mesh.leaf(['web'])).files;
  /** Opens a connection and, once the app echoed a ping through it, keeps it open; 'refused' if it never got there. */
  const hold = (port: number, creds?: { key: string; cert: string }): Promise<'held' | 'refused'> => new Promise((resolve) => {
    const opts: ConnectionOptions = { host: '127.0.0.1', port, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, ...creds };
    const s = tlsConnect(opts);
    held.push(s);
    s.once('secureConnect', () => s.write('ping'));
    s.once('data', () => resolve('held'));
    s.once('error', () => resolve('refused'));
    s.once('close', () => resolve('refused'));
  });

  const creds = { key: client.key, cert: client.chain };
  t.equal(await hold(proxy.ports.get('open')!, creds), 'held', 'control: an mTLS connection is admitted');
  t.equal(await hold(proxy.ports.get('open')!, creds), 'held', 'control: and another — admitted ones give their slot back');
  t.equal(await hold(proxy.ports.get('public')!), 'held', 'a TLS-only connection is admitted');
  t.equal(await hold(proxy.ports.get('public')!), 'held', 'a second one too: the source now has no slot left');
  t.equal(await hold(proxy.ports.get('public')!), 'refused', 'a third TLS-only connection from the same source: refused');
  const refusals = (await proxy.metrics.handshakeFailures.get()).values.filter((v) => v.labels.direction === 'inbound' && v.value > 0);
  t.same(refusals.map((v) => [v.labels.reason, v.value]), [['too-many-from-source', 1]], 'counted as too-many-from-source, nothing else');
  t.equal(app.connections, 4, 'the app saw the four admitted connections');
});
