/**
 * The sidecar never accepts a root CA it did not start with. Attacks, against the sidecar as `startProxy` wires it:
 * another container of the pod renames the TLS directory away and puts one of its own (root, mesh CA, key and a leaf
 * with an allowed SAN, all consistent) at its name; the host, answering for the Coordinator, sends a renewal whose
 * leaf is for the sidecar's new key but under its own root and mesh CA, and a trust bundle under its own root. Each is
 * refused and counted in `ccmesh_proxy_credential_refusals_total`, the generation in use stays, and a client leaf of
 * the attacker's CA still gets nothing. The `--workers` case (a worker forked after the swap) is in
 * workers-root-pin.test.ts.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { FixedClock, systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshCertResponse } from '../../lib/protocol/messages.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import type { CredentialFiles } from '../credentials/generation.js';
import type { MeshClient } from '../credentials/renewal.js';
import type { ProxyMetrics } from '../metrics.js';
import { startProxy } from '../unit.js';
import { coordinatorWithPod } from './coordinator-pod.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { FakeTimers, readAll, TestApp, testConfig, testLogger } from './support.js';

/** `ccmesh_proxy_credential_refusals_total` as `source/reason → count`. */
async function refusals(m: ProxyMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.credentialRefusals.get()).values.map((v) => [`${v.labels.source}/${v.labels.reason}`, v.value]));
}

/**
 * An mTLS client of `port` presenting `files`; sends "hello" and resolves with what the app answered ('' when
 * refused). `ca` verifies the server; without it the client (an attacker) takes any server.
 */
function clientOf(port: number, files: CredentialFiles, ca?: string): Promise<string> {
  const opts: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: '127.0.0.1', port, key: files.key, cert: files.chain, allowHalfOpen: true, checkServerIdentity: () => undefined,
    ...(ca === undefined ? { rejectUnauthorized: false } : { ca, allowPartialTrustChain: true }),
  };
  const s = tlsConnect(opts);
  s.once('secureConnect', () => s.end('hello'));
  return readAll(s).then((b) => b.toString(), () => '');
}

void t.test('a TLS directory swapped for one under an attacker\'s root: refused and counted, its leaves still refused', async (t) => {
  const mesh = await TestMesh.create();
  const attacker = await TestMesh.create();
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-root-pin-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'tls');
  mkdirSync(dir, { mode: 0o755 });
  writeTlsDir((await mesh.leaf(['web'])).files, dir);
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const proxy = await startProxy(testConfig({ tlsDir: dir, inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: ['client'] } }] }), {
    clock: systemClock, logger: testLogger, timers: new FakeTimers(),
  });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const port = proxy.ports.get('web')!;
  const peer = (await mesh.leaf(['client'])).files;
  const intruder = (await attacker.leaf(['client'])).files;
  t.equal(await clientOf(port, peer, mesh.bundle()), 'hello', 'control: a mesh peer with the allowed SAN is served');
  t.equal(await clientOf(port, intruder), '', 'control: the attacker\'s leaf with the allowed SAN is refused before the swap');

  // The attack: rename the sidecar's directory away and put a directory of one's own at its name — its own root,
  // mesh CA and a leaf for the sidecar's SAN, all consistent (a generation in its own right).
  const before = proxy.store.current;
  renameSync(dir, join(base, 'tls.old'));
  mkdirSync(dir, { mode: 0o755 });
  writeTlsDir((await attacker.leaf(['web'])).files, dir);
  await proxy.store.reload(); // what the directory watch and the periodic re-read call
  t.equal(proxy.store.current, before, 'the swapped-in directory is refused: the generation in use stays');
  t.equal(proxy.store.pinnedRoot.fingerprint256, mesh.root.cert.fingerprint256, 'the pinned root is the one the sidecar started with');
  t.same(await refusals(proxy.metrics), { 'files/root-changed': 1 }, 'counted: a root change in the files');
  t.equal(await clientOf(port, intruder), '', 'the attacker\'s leaf is still refused');
  t.equal(await clientOf(port, peer, mesh.bundle()), 'hello', 'and the mesh peer is still served');
  t.equal(app.connections, 2, 'the app saw only the mesh peer');
  await proxy.store.reload();
  t.same(await refusals(proxy.metrics), { 'files/root-changed': 2 }, 'every re-read of the directory refuses it again');
});

void t.test('renewal and trust-refresh answers under another root are refused and counted', async (t) => {
  const { h, pod, dir, address } = await coordinatorWithPod(t, 'ccmesh-root-pin-');
  const attacker = await TestMesh.create();
  const app = new TestApp('echo');
  const appPort = await app.listen();
  // The host in the middle rewrites answers of the real Coordinator.
  let renewal: ((res: MeshCertResponse) => Promise<MeshCertResponse>) | undefined;
  let bundle: ((res: object) => object) | undefined;
  const connect = async (): Promise<MeshClient> => {
    const c = await PinnedClient.connect(address, MeshApi);
    const call: MeshClient['call'] = async (m, req, deadlineMs) => {
      const res = await c.call(m, req, deadlineMs);
      if (m === 'RenewMeshCert' && renewal) return (await renewal(res as MeshCertResponse)) as typeof res;
      if (m === 'GetTrustBundle' && bundle) return bundle(res as object) as typeof res;
      return res;
    };
    return { spki: c.spki, close: () => c.close(), nonce: () => c.nonce(), call };
  };
  const warnings: string[] = [];
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    coordinator: { host: '127.0.0.1', port: h.coordinator!.meshPort },
    trustRefreshMs: 1000,
    inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), {
    clock: new FixedClock(Date.now()), timers: new FakeTimers(), random: () => 0.5, connectCoordinator: connect,
    logger: createLogger({ component: 'proxy-test', level: 'warn', sink: (l) => warnings.push(l) }),
  });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const first = proxy.store.current;
  const files = ['key.pem', 'chain.pem', 'mesh-ca.pem', 'root-ca.pem'];
  const onDisk = (): string[] => files.map((f) => readFileSync(join(dir, f), 'utf8'));
  const diskBefore = onDisk();

  // A renewal answer with a leaf for the sidecar's new key (taken from the real answer) from the attacker's mesh CA,
  // the attacker's bundle and root: consistent in itself, and the answer a sidecar would take without its pin.
  const forgeFor = async (res: MeshCertResponse): Promise<CredentialFiles> => {
    const leaf = await issueLeaf({
      publicKey: new X509Certificate(res.certChain).publicKey, sans: ['web'], spiffeId: 'spiffe://ccmesh.local/web', policyHash: 'ab'.repeat(32),
      lifetimeMs: 3600_000, meshCa: attacker.meshCas[0]!, clock: systemClock,
    });
    return { key: '', chain: leaf.certPem + attacker.meshCas[0]!.certPem, meshCaBundle: attacker.bundle(), rootCa: attacker.root.certPem };
  };
  renewal = async (res) => {
    const forged = await forgeFor(res);
    return { ...res, certChain: forged.chain, meshCaBundle: forged.meshCaBundle, rootCa: forged.rootCa };
  };
  t.equal(await proxy.renewal!.renewNow(), false, 'a renewal under the attacker\'s root: refused');
  t.match(warnings.join('\n'), /RenewMeshCert returned a root CA other than the one this pod trusts/, 'for its root');
  // The same leaf and CA, under the pinned root's name: refused by the generation check, as a foreign CA.
  renewal = async (res) => {
    const forged = await forgeFor(res);
    return { ...res, certChain: forged.chain, meshCaBundle: forged.meshCaBundle };
  };
  t.equal(await proxy.renewal!.renewNow(), false, 'the attacker\'s leaf and CA with the pinned root: refused');
  renewal = undefined;

  // A trust bundle under the attacker's root (its CAs dated later than ours, so nothing but the root can refuse it).
  const later = await TestMesh.create('ccmesh.local', new FixedClock(Date.now() + 60_000));
  bundle = (res) => ({ ...res, rootCa: later.root.certPem, meshCaBundle: pod.res.meshCaBundle + later.bundle() });
  t.equal(await proxy.trustRefresh!.pollNow(), 'failed', 'a trust bundle under the attacker\'s root: refused');
  bundle = (res) => ({ ...res, meshCaBundle: pod.res.meshCaBundle + later.bundle() });
  t.equal(await proxy.trustRefresh!.pollNow(), 'failed', 'the attacker\'s CA added under the pinned root: refused');
  bundle = undefined;

  t.equal(proxy.store.current, first, 'the generation in use is the first one');
  t.same(onDisk(), diskBefore, 'and nothing was written to the TLS directory');
  t.same(await refusals(proxy.metrics), {
    'renewal/root-changed': 1, 'renewal/foreign-ca': 1, 'trust-refresh/root-changed': 1, 'trust-refresh/foreign-ca': 1,
  }, 'each refusal counted for its source and reason');
  t.equal(await proxy.renewal!.renewNow(), true, 'control: the real answer renews');
  t.equal(proxy.store.pinnedRoot.fingerprint256, first.root.fingerprint256, 'under the same root');
});
