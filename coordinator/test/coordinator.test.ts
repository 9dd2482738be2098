/**
 * The Coordinator in-process over loopback with the simulated TEE: first set → pod certificate → manifest update →
 * renewal under the new mesh CA → restart → recovery mode → recover → same root CA; and every attack of the
 * protocol's threat model, each refused with a status that names the reason.
 */
import t from 'tap';
import { createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { CcmeshError } from '../../lib/errors.js';
import { renewKeyPossessionData, renewSignedData, signBinding } from '../../lib/protocol/binding.js';
import { COORDINATOR_STATE } from '../../lib/protocol/messages.js';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { Harness, sha256hex } from './harness.js';

const certs = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

async function refused(t: Tap, p: Promise<unknown>, code: string, detail: RegExp, what: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, `${what}: refused`);
  t.match((err as Error | undefined)?.message ?? '', new RegExp(`${code}: .*${detail.source}`), what);
}
type Tap = { ok(v: unknown, m: string): unknown; match(a: string, b: RegExp, m: string): unknown };
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

void t.test('coordinator lifecycle and attacks', async (t) => {
  const { h, user, mesh } = await Harness.started(t);

  // Fresh: nothing is issued before a manifest exists.
  const early = await h.podRequest(mesh);
  await refused(t, mesh.call('NewMeshCert', early.request), 'UNAVAILABLE', /no manifest/, 'NewMeshCert before the first manifest');

  // First set: no signature needed; seed shares come back once.
  const manifest1 = h.manifest();
  const set1 = await user.call('SetManifest', await h.signedSet(user, manifest1, [h.coordinatorDoc, h.podDoc]));
  t.equal(set1.seedShares.length, 1);
  const root = new X509Certificate(set1.rootCa);
  const mesh1 = certs(set1.meshCaBundle);
  t.equal(mesh1.length, 1);
  t.ok(mesh1[0]!.verify(root.publicKey), 'mesh CA signed by the root');

  // A pod attests and gets its identity.
  const pod = await h.newPodCert(mesh);
  const [leaf, leafIssuer] = certs(pod.res.certChain);
  t.ok(leaf && leafIssuer && leaf.verify(leafIssuer.publicKey), 'leaf signed by the mesh CA');
  t.match(leaf!.subjectAltName ?? '', /DNS:web/);
  t.match(leaf!.subjectAltName ?? '', /URI:spiffe:\/\/ccmesh\.local\/apps\/v1\/Deployment\/default\/web/);
  t.equal(pod.res.workloadSecret?.length, 64);
  const again = await h.newPodCert(mesh);
  t.equal(hex(again.res.workloadSecret), hex(pod.res.workloadSecret), 'the same workload gets the same secret');

  // Attacks on NewMeshCert.
  const replay = await h.podRequest(mesh);
  await mesh.call('NewMeshCert', replay.request);
  await refused(t, mesh.call('NewMeshCert', replay.request), 'PERMISSION_DENIED', /nonce/, 'replayed evidence and nonce');
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh, { bindKey: otherKey.privateKey })).request), 'PERMISSION_DENIED', /REPORT_DATA does not bind/, 'evidence bound to another key');
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh, { bindCoordinatorSpki: new Uint8Array(createPublicKey(otherKey.privateKey).export({ type: 'spki', format: 'der' })) })).request), 'PERMISSION_DENIED', /REPORT_DATA does not bind/, 'relay: evidence made for another TLS endpoint');
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh, { hostDataDoc: new Uint8Array(Buffer.from('unknown pod')) })).request), 'PERMISSION_DENIED', /not in the manifest/, 'policy hash not in the manifest');
  const rogue = await initSimulatedPlatform(join(h.dir, 'rogue'), { rsaBits: 2048 });
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh, { platform: rogue })).request), 'PERMISSION_DENIED', /not a pinned trust anchor/, 'evidence from a platform the manifest does not trust');
  await refused(t, mesh.call('NewMeshCert', (await h.podRequest(mesh, { nonce: new Uint8Array(32).fill(9) })).request), 'PERMISSION_DENIED', /nonce/, 'a nonce the Coordinator never issued');
  await refused(t, mesh.call('NewMeshCert', { publicKey: new Uint8Array(65), nonce: new Uint8Array(32) }), 'INVALID_ARGUMENT', /NewMeshCert\.evidence: expected a Evidence message \(got none\)/, 'a client that never attests');
  // The point at infinity as a pod key: Node aborts the whole process if it reads this key's details. OpenSSL ignores
  // the trailing zeros that pad it to the wire's 32-byte minimum. The request is refused before any evidence is looked
  // at, and the Coordinator (in this very process) keeps serving.
  const infinity = new Uint8Array(Buffer.from(`3019301306072a8648ce3d020106082a8648ce3d03010703020000${'00'.repeat(8)}`, 'hex'));
  const atInfinity = await h.podRequest(mesh);
  await refused(t, mesh.call('NewMeshCert', { ...atInfinity.request, publicKey: infinity }), 'INVALID_ARGUMENT', /publicKey is not a well-formed DER SubjectPublicKeyInfo: .*trailing bytes/, 'a pod key at the point at infinity');
  await refused(t, mesh.call('RenewMeshCert', { ...(await h.renewRequest(mesh, pod.res.certChain, pod.key.privateKey as unknown as KeyObject)).request, publicKey: infinity }), 'INVALID_ARGUMENT', /publicKey is not a well-formed DER SubjectPublicKeyInfo/, 'a renewal to a key at the point at infinity');
  t.ok((await h.newPodCert(mesh)).res.certChain, 'the Coordinator still serves after both');
  const tampered = await h.podRequest(mesh);
  const snp = tampered.request.evidence!.snp!;
  const report = Buffer.from(snp.report);
  report[0x90] = report[0x90]! ^ 1;
  await refused(t, mesh.call('NewMeshCert', { ...tampered.request, evidence: { snp: { ...snp, report } } }), 'PERMISSION_DENIED', /signature/, 'a tampered measurement');

  // Manifest updates need a workload owner's signature.
  const podDoc2 = new Uint8Array(Buffer.from('pod api policy v1'));
  const manifest2 = h.manifest([sha256hex(podDoc2)]);
  const policies2 = [h.coordinatorDoc, h.podDoc, podDoc2];
  await refused(t, user.call('SetManifest', { manifest: manifest2, policies: policies2 }), 'UNAUTHENTICATED', /workload owner/, 'an unsigned update');
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  await refused(t, user.call('SetManifest', await h.signedSet(user, manifest2, policies2, stranger.privateKey)), 'PERMISSION_DENIED', /not one of the current manifest/, 'an owner key not in the manifest');
  const forged = await h.signedSet(user, manifest2, policies2);
  await refused(t, user.call('SetManifest', { ...forged, manifest: h.manifest([sha256hex(podDoc2), 'ab'.repeat(32)]) }), 'INVALID_ARGUMENT|PERMISSION_DENIED', /./, 'a signature over another manifest');
  const set2 = await user.call('SetManifest', await h.signedSet(user, manifest2, policies2));
  t.equal(set2.seedShares.length, 0, 'seed shares only on the first set');
  t.equal(set2.rootCa, set1.rootCa, 'the root CA is stable');
  const bundle2 = certs(set2.meshCaBundle);
  t.equal(bundle2.length, 2, 'bundle holds the new and the previous mesh CA');
  t.equal(bundle2[1]!.fingerprint256, mesh1[0]!.fingerprint256);

  // The old leaf renews under the new mesh CA, no restart.
  const renewKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const newSpki = new Uint8Array(renewKey.publicKey.export({ type: 'spki', format: 'der' }));
  const renewNonce = await mesh.nonce();
  const renewReq = {
    certChain: pod.res.certChain,
    publicKey: newSpki,
    nonce: renewNonce,
    signature: signBinding(renewSignedData(newSpki, renewNonce, mesh.spki), pod.key.privateKey as unknown as KeyObject),
    newKeySignature: signBinding(renewKeyPossessionData(newSpki, renewNonce, mesh.spki), renewKey.privateKey),
  };
  const renewed = await mesh.call('RenewMeshCert', renewReq);
  const [newLeaf] = certs(renewed.certChain);
  t.ok(newLeaf!.verify(bundle2[0]!.publicKey), 'renewed leaf is issued by the new mesh CA');
  await refused(t, mesh.call('RenewMeshCert', renewReq), 'PERMISSION_DENIED', /nonce/, 'a replayed renewal');
  const badNonce = await mesh.nonce();
  await refused(t, mesh.call('RenewMeshCert', { ...renewReq, nonce: badNonce }), 'PERMISSION_DENIED', /signature/, 'a renewal signed over another nonce');

  // Restart: recovery mode until a seed-share owner recovers.
  const before = await user.call('GetManifests', {});
  t.equal(before.manifests.length, 2);
  user.close();
  mesh.close();
  const { user: user2, mesh: mesh2 } = await h.restarted(t);
  t.equal((await user2.call('GetManifests', {})).state, COORDINATOR_STATE.recovery);
  await refused(t, mesh2.call('NewMeshCert', (await h.podRequest(mesh2)).request), 'UNAVAILABLE', /recovery/, 'issuance in recovery mode');
  const { seed, salt } = decryptSeedShare(seedShareFromMessage(set1.seedShares[0]!), h.seedshare.privateKey);
  const strangerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await refused(t, user2.call('Recover', await h.recoverRequest(user2, seed, salt, strangerRsa.privateKey)), 'PERMISSION_DENIED', /not a seed-share owner key of the mesh's first manifest/, 'a seed-share key not in the first manifest');
  const wrongSeed = new Uint8Array(seed).map((b) => b ^ 0xff);
  await refused(t, user2.call('Recover', await h.recoverRequest(user2, wrongSeed, salt)), 'PERMISSION_DENIED', /does not match/, 'a wrong seed');
  await user2.call('Recover', await h.recoverRequest(user2, seed, salt));
  const after = await user2.call('GetManifests', {});
  t.equal(after.state, COORDINATOR_STATE.ready);
  t.equal(after.rootCa, set1.rootCa, 'same root CA after recovery');
  t.same(after.manifests.map(hex), before.manifests.map(hex), 'same history after recovery');
  const afterPod = await h.newPodCert(mesh2);
  t.ok(certs(afterPod.res.certChain)[1]!.verify(root.publicKey), 'issuance works again, under the same root');
  t.equal(hex(afterPod.res.workloadSecret), hex(pod.res.workloadSecret), 'workload secrets survive recovery');
});
