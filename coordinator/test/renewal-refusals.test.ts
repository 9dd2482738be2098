/**
 * RenewMeshCert's own refusals, each with a request that passes every other check: a leaf of another CA (carrying a
 * correct policy-hash extension and names), a leaf outside its validity (expired, not yet valid), a signature by
 * another key, a leaf whose policy the manifest dropped, and a new key that is not P-256. Each test first renews
 * successfully with the same parts, so the refusal is the one check under test.
 */
import t from 'tap';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { FixedClock, systemClock } from '../../lib/clock.js';
import { createMeshCa, createRootCa } from '../pki/ca.js';
import { DEFAULT_LEAF_LIFETIME_MS, issueLeaf, readLeafPolicyHash } from '../pki/leaf.js';
import { CLOCK_SKEW_MS } from '../pki/issuance.js';
import { spiffeIdFor } from '../../contract/spiffe-id.js';
import { Harness, refused, sha256hex } from './harness.js';

const certs = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
const privateKeyOf = (pod: Awaited<ReturnType<Harness['newPodCert']>>): KeyObject => pod.key.privateKey as unknown as KeyObject;

void t.test('a leaf of any other CA is refused, even one with the mesh CA\'s name, a correct policy hash and names', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const set = await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const genuine = await h.newPodCert(mesh);
  const genuineLeaf = certs(genuine.res.certChain)[0]!;
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, genuine.res.certChain, privateKeyOf(genuine))).request), 'control: the genuine leaf renews');

  // The attacker's own root and mesh CA, named exactly like the Coordinator's (same generation and trust domain).
  const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const meshKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const clock = systemClock;
  const root = await createRootCa({ key: rootKey, trustDomain: 'ccmesh.local', clock });
  const ownMesh = await createMeshCa({ key: meshKey, generation: set.transitionHash, root: { cert: root.cert, key: rootKey }, trustDomain: 'ccmesh.local', clock });
  t.equal(ownMesh.cert.subject, certs(set.meshCaBundle)[0]!.subject, 'the forged mesh CA has the real one\'s name');
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forged = await issueLeaf({
    publicKey: leafKey.publicKey, sans: ['web', 'web.default.svc'], spiffeId: spiffeIdFor('ccmesh.local', 'apps/v1/Deployment/default/web'),
    policyHash: sha256hex(h.podDoc), lifetimeMs: DEFAULT_LEAF_LIFETIME_MS, meshCa: { cert: ownMesh.cert, key: meshKey }, clock,
  });
  t.equal(readLeafPolicyHash(forged.cert), readLeafPolicyHash(genuineLeaf), 'the forged leaf names the pod\'s policy');
  t.equal(forged.cert.issuer, genuineLeaf.issuer, 'and the genuine leaf\'s issuer name');

  const { request } = await h.renewRequest(mesh, forged.certPem + ownMesh.certPem, leafKey.privateKey);
  await refused(t, mesh.call('RenewMeshCert', request), 'UNAUTHENTICATED', /the presented leaf was not issued by the current or previous mesh CA/, 'a leaf of a self-made CA');
});

void t.test('a leaf is renewed only while it is valid: expired and not-yet-valid leaves are refused', async (t) => {
  const clock = new FixedClock(Date.now());
  const { h, user, mesh } = await Harness.started(t, { clock });
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const expiring = await h.newPodCert(mesh);
  const notAfter = Date.parse(certs(expiring.res.certChain)[0]!.validTo);

  clock.advance(notAfter - clock.nowMs());
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, expiring.res.certChain, privateKeyOf(expiring))).request), 'control: at its notAfter the leaf still renews');
  clock.advance(1000);
  await refused(t, mesh.call('RenewMeshCert', (await h.renewRequest(mesh, expiring.res.certChain, privateKeyOf(expiring))).request),
    'UNAUTHENTICATED', /the presented leaf is not valid now/, 'a second after its notAfter');

  // A leaf issued now, presented when the clock reads earlier than its notBefore (a clock stepped back).
  const early = await h.newPodCert(mesh);
  const notBefore = Date.parse(certs(early.res.certChain)[0]!.validFrom);
  t.ok(notBefore >= clock.nowMs() - CLOCK_SKEW_MS - 1000, 'control: notBefore is now, backdated by the skew allowance');
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, early.res.certChain, privateKeyOf(early))).request), 'control: the new leaf renews now');
  clock.advance(notBefore - clock.nowMs() - 1000);
  await refused(t, mesh.call('RenewMeshCert', (await h.renewRequest(mesh, early.res.certChain, privateKeyOf(early))).request),
    'UNAUTHENTICATED', /the presented leaf is not valid now/, 'a second before its notBefore');
});

void t.test('the renewal must be signed by the presented leaf\'s key', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const pod = await h.newPodCert(mesh);
  // Anyone can read a leaf off the wire; the thief signs with its own key over a correct message.
  const thief = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await refused(t, mesh.call('RenewMeshCert', (await h.renewRequest(mesh, pod.res.certChain, thief)).request),
    'PERMISSION_DENIED', /the renewal signature does not verify with the presented leaf's key/, 'a genuine leaf, signed by another key');
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, pod.res.certChain, privateKeyOf(pod))).request), 'control: signed by the leaf\'s key it renews');
});

void t.test('a leaf whose policy a manifest update dropped is refused', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const batchDoc = new Uint8Array(Buffer.from('batch job policy v1'));
  const batchPolicy = sha256hex(batchDoc);
  await user.call('SetManifest', await h.signedSet(user, h.manifest([batchPolicy]), [h.coordinatorDoc, h.podDoc, batchDoc]));
  const batchPod = await h.podRequest(mesh, { hostDataDoc: batchDoc });
  const batch = await mesh.call('NewMeshCert', batchPod.request);
  const batchKey = batchPod.key.privateKey as unknown as KeyObject;
  t.equal(readLeafPolicyHash(certs(batch.certChain)[0]!), batchPolicy, 'the batch pod holds a leaf of its own policy');
  const renewed = await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, batch.certChain, batchKey)).request);
  t.ok(renewed.certChain, 'control: while the manifest names the policy, the leaf renews');

  // Same reference values, the batch policy gone: a previous-generation leaf would renew without evidence.
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  await refused(t, mesh.call('RenewMeshCert', (await h.renewRequest(mesh, batch.certChain, batchKey)).request),
    'PERMISSION_DENIED', new RegExp(`policy ${batchPolicy} of the presented leaf is no longer in the manifest`), 'a leaf of the dropped policy');
  const web = await h.newPodCert(mesh);
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, web.res.certChain, privateKeyOf(web))).request), 'control: a leaf of a kept policy still renews');
});

void t.test('the new key must be ECDSA P-256', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const pod = await h.newPodCert(mesh);
  for (const [what, newKey] of [
    ['a P-384 key', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
    ['an Ed25519 key', generateKeyPairSync('ed25519').privateKey],
  ] as const) {
    await refused(t, mesh.call('RenewMeshCert', (await h.renewRequest(mesh, pod.res.certChain, privateKeyOf(pod), { newKey })).request),
      'INVALID_ARGUMENT', /publicKey must be an ECDSA P-256 key/, what);
  }
});

void t.test('a leaf holder renewing for another pod\'s public key is refused: the new key must sign for itself', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const neighbour = await h.newPodCert(mesh);
  // The victim's new public key, seen by the host in the victim's own request; its private key stays with the victim.
  const victimKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const forVictim = await h.renewRequest(mesh, neighbour.res.certChain, privateKeyOf(neighbour), { newKey: victimKey, possessionKey: privateKeyOf(neighbour) });
  await refused(t, mesh.call('RenewMeshCert', forVictim.request), 'PERMISSION_DENIED', /the new key did not sign for itself/, 'a leaf of the neighbour\'s identity for the victim\'s key');
  const noProof = await h.renewRequest(mesh, neighbour.res.certChain, privateKeyOf(neighbour));
  await refused(t, mesh.call('RenewMeshCert', { ...noProof.request, newKeySignature: new Uint8Array(64) }), 'PERMISSION_DENIED', /the new key did not sign for itself/, 'a proof that does not verify');
  t.ok(await mesh.call('RenewMeshCert', (await h.renewRequest(mesh, neighbour.res.certChain, privateKeyOf(neighbour))).request), 'control: a renewal whose new key signs for itself');
});
