/**
 * The revocation bound of RenewMeshCert: after a manifest update that changes the reference values, a leaf of the
 * previous mesh CA renews only with fresh evidence (bound to the new key, meeting the current manifest, naming the
 * leaf's policy); an update that keeps them renews as before; evidence sent unasked is judged all the same; and the
 * Coordinator still knows after a recovery whether the previous generation's reference values differed.
 */
import t from 'tap';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { toWireEvidence } from '../../attestation/issuers/wire-evidence.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { CcmeshError } from '../../lib/errors.js';
import { meshCertReportData, renewKeyPossessionData, renewSignedData, signBinding } from '../../lib/protocol/binding.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, RenewMeshCertRequest, UserApiMethods } from '../../lib/protocol/messages.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { Harness, sha256hex } from './harness.js';

const certs = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

/** A measurement no simulated platform of these tests launches with. */
const OTHER_MEASUREMENT = 'ab'.repeat(48);

/** Like `h.manifest`, with the simulated root's measurement list given. */
function manifestWith(h: Harness, measurements: readonly string[], extraPolicies: readonly string[] = []): Uint8Array {
  const doc = buildManifestDocument({
    workloadOwnerKeys: [h.spkiHex(h.owner.publicKey)],
    seedshareOwnerKeys: [h.spkiHex(h.seedshare.publicKey)],
    simulatedArkPem: h.platform.ark.toString(),
    simulatedSnp: { measurements: [...measurements] },
    policies: [
      { policyHash: sha256hex(h.coordinatorDoc), role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' },
      { policyHash: sha256hex(h.podDoc), sans: ['web', 'web.default.svc'], workloadSecretId: 'apps/v1/Deployment/default/web' },
      ...extraPolicies.map((p) => ({ policyHash: p, workloadSecretId: `extra-${p.slice(0, 6)}` })),
    ],
  });
  return new Uint8Array(Buffer.from(JSON.stringify(doc)));
}

/** A pod's current credentials: its leaf chain and the leaf's private key. */
interface Held {
  readonly certChain: string;
  readonly key: KeyObject;
}

function heldOf(pod: Awaited<ReturnType<Harness['newPodCert']>>): Held {
  return { certChain: pod.res.certChain, key: pod.key.privateKey as unknown as KeyObject };
}

/**
 * A RenewMeshCert request from `held` for a new key; `evidence` adds simulated evidence whose HOST_DATA is the hash of
 * `hostDataDoc` (default the pod's policy), bound to the new key or to `bindKey`.
 */
async function renewRequest(h: Harness, mesh: PinnedClient<MeshApiMethods>, held: Held, evidence?: { hostDataDoc?: Uint8Array; bindKey?: KeyObject }) {
  const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(next.publicKey.export({ type: 'spki', format: 'der' }));
  const nonce = await mesh.nonce();
  let request: RenewMeshCertRequest = {
    certChain: held.certChain,
    publicKey: spki,
    nonce,
    signature: signBinding(renewSignedData(spki, nonce, mesh.spki), held.key),
    newKeySignature: signBinding(renewKeyPossessionData(spki, nonce, mesh.spki), next.privateKey),
  };
  if (evidence) {
    const bound = evidence.bindKey ? new Uint8Array(evidence.bindKey.export({ type: 'spki', format: 'der' })) : spki;
    const issuer = new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(evidence.hostDataDoc ?? h.podDoc), 'hex') });
    request = { ...request, evidence: toWireEvidence(await issuer.issue(meshCertReportData(bound, nonce, mesh.spki))) };
  }
  return { request, next: { key: next.privateKey } };
}

async function renew(h: Harness, mesh: PinnedClient<MeshApiMethods>, held: Held, evidence?: Parameters<typeof renewRequest>[3]): Promise<Held> {
  const { request, next } = await renewRequest(h, mesh, held, evidence);
  const res = await mesh.call('RenewMeshCert', request);
  return { certChain: res.certChain, key: next.key };
}

async function refused(t: Tap, p: Promise<unknown>, code: string, detail: RegExp, what: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, `${what}: refused`);
  // The details must start with `detail` (a gRPC status name, then the Coordinator's message).
  t.match((err as Error | undefined)?.message ?? '', new RegExp(`${code}: ${detail.source}`), what);
}
type Tap = { ok(v: unknown, m: string): unknown; match(a: string, b: RegExp, m: string): unknown };

const policies = (h: Harness, ...extra: Uint8Array[]): Uint8Array[] => [h.coordinatorDoc, h.podDoc, ...extra];

void t.test('a reference-value change: a leaf of the previous CA renews only with fresh evidence', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const m = h.platform.config.measurement;
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m]), policies(h)));
  const old = heldOf(await h.newPodCert(mesh));
  // Another alternative measurement: the pod's own still passes, but the reference values changed.
  const set2 = await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m, OTHER_MEASUREMENT]), policies(h)));
  const currentCa = certs(set2.meshCaBundle)[0]!;

  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old)).request), 'FAILED_PRECONDITION', /fresh evidence required: .*reference values/, 'renewal of a previous-generation leaf without evidence');
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old, { hostDataDoc: h.coordinatorDoc })).request), 'PERMISSION_DENIED', /the evidence names policy .* not the presented leaf's policy/, 'fresh evidence of another policy hash');
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old, { bindKey: stranger.publicKey })).request), 'PERMISSION_DENIED', /evidence refused: REPORT_DATA does not bind/, 'evidence bound to another key than the new one');

  const renewed = await renew(h, mesh, old, {});
  t.ok(certs(renewed.certChain)[0]!.verify(currentCa.publicKey), 'with fresh valid evidence: renewed under the current mesh CA');
  const again = await renew(h, mesh, renewed);
  t.ok(certs(again.certChain)[0]!.verify(currentCa.publicKey), 'a leaf of the current CA renews without evidence');
});

void t.test('evidence that no longer meets the new reference values is refused', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [h.platform.config.measurement]), policies(h)));
  const old = heldOf(await h.newPodCert(mesh));
  // The update drops the pod's measurement: its image is no longer trusted.
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [OTHER_MEASUREMENT]), policies(h)));
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old)).request), 'FAILED_PRECONDITION', /fresh evidence required/, 'renewal without evidence');
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old, {})).request), 'PERMISSION_DENIED', /evidence refused: measurement [0-9a-f]{96} is not one of the 1 reference measurement/, 'renewal with evidence of a dropped measurement');
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh)).request), 'PERMISSION_DENIED', /evidence refused: measurement/, 'and NewMeshCert agrees');
});

void t.test('an update that keeps the reference values: renewal needs no evidence, but evidence sent is judged', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const m = h.platform.config.measurement;
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m]), policies(h)));
  const old = heldOf(await h.newPodCert(mesh));
  const extraDoc = new Uint8Array(Buffer.from('pod api policy v1'));
  // A new policy, same reference values.
  const set2 = await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m], [sha256hex(extraDoc)]), policies(h, extraDoc)));
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, old, { hostDataDoc: h.coordinatorDoc })).request), 'PERMISSION_DENIED', /the evidence names policy/, 'evidence of another policy sent when none is required');
  const renewed = await renew(h, mesh, old);
  t.ok(certs(renewed.certChain)[0]!.verify(certs(set2.meshCaBundle)[0]!.publicKey), 'a previous-generation leaf renews without evidence');
  await refused(t, mesh.call('RenewMeshCert', (await renewRequest(h, mesh, renewed, { hostDataDoc: h.coordinatorDoc })).request), 'PERMISSION_DENIED', /the evidence names policy/, 'evidence of another policy with a current-generation leaf');
});

void t.test('after recovery the Coordinator still knows whether the previous generation had other reference values', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const m = h.platform.config.measurement;
  const set1 = await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m]), policies(h)));
  const { seed, salt } = decryptSeedShare(seedShareFromMessage(set1.seedShares[0]!), h.seedshare.privateKey);
  const restart = async (): Promise<{ user: PinnedClient<UserApiMethods>; mesh: PinnedClient<MeshApiMethods> }> => {
    const clients = await h.restarted(t);
    await clients.user.call('Recover', await h.recoverRequest(clients.user, seed, salt));
    return clients;
  };
  const old = heldOf(await h.newPodCert(mesh));
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [m, OTHER_MEASUREMENT]), policies(h)));
  user.close();
  mesh.close();

  const after1 = await restart();
  await refused(t, after1.mesh.call('RenewMeshCert', (await renewRequest(h, after1.mesh, old)).request), 'FAILED_PRECONDITION', /fresh evidence required/, 'changed reference values, recovered: no renewal without evidence');
  const renewed = await renew(h, after1.mesh, old, {});
  t.ok(renewed.certChain.length > 0, 'changed reference values, recovered: renewal with fresh evidence');

  const extraDoc = new Uint8Array(Buffer.from('pod api policy v1'));
  await after1.user.call('SetManifest', await h.signedSet(after1.user, manifestWith(h, [m, OTHER_MEASUREMENT], [sha256hex(extraDoc)]), policies(h, extraDoc)));
  after1.user.close();
  after1.mesh.close();
  const after2 = await restart();
  const again = await renew(h, after2.mesh, renewed);
  t.ok(again.certChain.length > 0, 'unchanged reference values, recovered: renewal without evidence');
});
