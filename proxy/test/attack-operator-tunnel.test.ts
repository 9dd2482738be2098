/**
 * Attack: an operator (a `ccmesh port-forward` user, whose certificate chains to the mesh CA) asks an `mtls+operator`
 * port for the pooled tunnel. The tunnel is sidecar to sidecar: on it every stream would be judged by the pooled
 * connection's identity, so an operator could open streams to any port it names. The sidecar must close such a
 * connection before any stream, count it `operator-not-allowed`, and still serve the operator per connection.
 */
import t from 'tap';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { operatorIdFor } from '../../contract/operator-identity.js';
import { issueOperatorCert } from '../../coordinator/pki/operator-cert.js';
import { PROXY_DEFAULTS } from '../config.js';
import { TUNNEL_ALPN, tunnelAuthority } from '../tunnel/protocol.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';
import { connectStream, metricSum, rawTunnel, tunnelTls } from './tunnel-client.js';

void t.test('an operator certificate never gets a pooled tunnel connection, even on an mtls+operator port', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['web'])).files);
  const app = new TestApp('echo');
  const side = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true },
    inbound: [{ name: 'web', appPort: await app.listen(), listenPort: 0, mode: { kind: 'mtls', allow: [], operators: true } }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await side.drain();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = side.ports.get('web')!;
  const opKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const ca = mesh.meshCas[0]!;
  const op = issueOperatorCert({
    publicKey: createPublicKey(opKey), operatorId: operatorIdFor('ccmesh.local', new Uint8Array(32)), lifetimeMs: 30 * 60_000, meshCa: ca, clock: systemClock,
  });
  const operator = { key: opKey.export({ type: 'pkcs8', format: 'pem' }).toString(), chain: op.certPem + ca.cert.toString() };

  // Control: a workload peer gets the tunnel and a stream to the port.
  const peer = await rawTunnel(mesh, port, (await mesh.leaf(['api'])).files);
  t.teardown(() => peer.destroy());
  t.equal((await connectStream(peer, tunnelAuthority(port))).status, 200, 'control: a workload peer opens a tunnel stream');

  const before = await metricSum(side, 'ccmesh_proxy_tls_handshake_failures_total', { reason: 'operator-not-allowed' });
  const tls = await tunnelTls(mesh, port, operator);
  t.equal(tls.alpnProtocol, TUNNEL_ALPN, 'the handshake itself selects the tunnel (the identity is known only after it)');
  const closed = await new Promise<boolean>((resolve) => {
    if (tls.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), 10_000);
    tls.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    tls.resume();
  });
  t.ok(closed, 'the sidecar closes the operator\'s pooled connection');
  t.equal(await metricSum(side, 'ccmesh_proxy_tls_handshake_failures_total', { reason: 'operator-not-allowed' }), before + 1, 'counted operator-not-allowed');

  // The operator still reaches the port the ordinary way (per connection, no tunnel ALPN).
  const direct = tlsConnect({ host: '127.0.0.1', port, key: operator.key, cert: operator.chain, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined });
  direct.on('error', () => undefined);
  await new Promise((r) => direct.once('secureConnect', r));
  direct.write('hello');
  const echoed = await new Promise<string>((resolve) => direct.once('data', (d: Buffer) => resolve(d.toString())));
  t.equal(echoed, 'hello', 'control: per connection, the operator reaches the mtls+operator port');
  direct.destroy();
});
