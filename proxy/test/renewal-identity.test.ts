/**
 * A renewal gives the same pod a new key and nothing else. Attacks from the attack review of the root pin, with the
 * host answering `RenewMeshCert` in the Coordinator's place using certificates the pinned root really signed: a leaf
 * for the sidecar's new key but another workload's policy (the identity swap), and a bundle that adds the root itself
 * as a mesh CA (which would bring back every CA the root ever signed). Both are refused and counted; the control
 * answer — same policy, same bundle — is taken.
 */
import t from 'tap';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock, systemClock } from '../../lib/clock.js';
import type { MeshCertResponse, RenewMeshCertRequest } from '../../lib/protocol/messages.js';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import type { MeshClient } from '../credentials/renewal.js';
import type { ProxyMetrics } from '../metrics.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { FakeTimers, TestApp, testConfig, testLogger } from './support.js';

async function refusals(m: ProxyMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.credentialRefusals.get()).values.map((v) => [`${v.labels.source}/${v.labels.reason}`, v.value]));
}

void t.test('renewal answers that change the identity or trust the root are refused', async (t) => {
  const mesh = await TestMesh.create();
  await mesh.addMeshCa(); // the bundle in use holds the current mesh CA and the previous one
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-renew-identity-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'tls');
  mkdirSync(dir, { mode: 0o755 });
  writeTlsDir((await mesh.leaf(['web'])).files, dir);
  // What the host answers next, for the new key the sidecar asks about.
  let answer: (req: RenewMeshCertRequest) => Promise<MeshCertResponse> = () => Promise.reject(new Error('unset'));
  const client: MeshClient = {
    spki: new Uint8Array(32),
    nonce: () => Promise.resolve(new Uint8Array(randomBytes(32))),
    close: () => undefined,
    call: (async (method: string, req: unknown) => {
      if (method !== 'RenewMeshCert') throw new Error(`unexpected ${method}`);
      return answer(req as RenewMeshCertRequest);
    }) as MeshClient['call'],
  };
  const leafFor = async (req: RenewMeshCertRequest, policyHash: string, ca = mesh.meshCas[0]!): Promise<string> => {
    const leaf = await issueLeaf({ publicKey: createPublicKey({ key: Buffer.from(req.publicKey), format: 'der', type: 'spki' }), sans: ['web'], spiffeId: 'spiffe://ccmesh.local/web', policyHash, lifetimeMs: 3600_000, meshCa: ca, clock: systemClock });
    return leaf.certPem + ca.certPem;
  };
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const proxy = await startProxy(testConfig({ tlsDir: dir, coordinator: { host: '127.0.0.1', port: 1 }, inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }] }), {
    clock: new FixedClock(Date.now()), logger: testLogger, timers: new FakeTimers(), random: () => 0.5, connectCoordinator: () => Promise.resolve(client),
  });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const first = proxy.store.current.leaf.serialNumber;

  answer = async (req) => ({ certChain: await leafFor(req, 'cd'.repeat(32)), meshCaBundle: mesh.bundle(), rootCa: mesh.root.certPem });
  t.equal(await proxy.renewal!.renewNow(), false, 'a leaf for our new key under another policy (another workload\'s identity): refused');
  t.equal(proxy.store.current.leaf.serialNumber, first, 'the leaf in use stays');

  answer = async (req) => ({ certChain: await leafFor(req, 'ab'.repeat(32)), meshCaBundle: mesh.meshCas[0]!.certPem + mesh.root.certPem, rootCa: mesh.root.certPem });
  t.equal(await proxy.renewal!.renewNow(), false, 'a bundle holding the root itself as a mesh CA: refused');
  const previous = mesh.meshCas[1]!;
  answer = async (req) => ({ certChain: await leafFor(req, 'ab'.repeat(32), previous), meshCaBundle: previous.certPem, rootCa: mesh.root.certPem });
  t.equal(await proxy.renewal!.renewNow(), false, 'a leaf and bundle of the previous mesh CA only (an earlier generation replayed): refused');
  t.same(await refusals(proxy.metrics), { 'renewal/identity-changed': 1, 'renewal/foreign-ca': 1, 'renewal/invalid': 1 }, 'each counted by its reason');

  answer = async (req) => ({ certChain: await leafFor(req, 'ab'.repeat(32)), meshCaBundle: mesh.bundle(), rootCa: mesh.root.certPem });
  t.equal(await proxy.renewal!.renewNow(), true, 'control: the same policy and bundle renew');
  t.not(proxy.store.current.leaf.serialNumber, first, 'and the new leaf is in use');
});
