/**
 * Mesh owner pinning in the Coordinator (`contract/mesh-owner.ts`, `lib/protocol/mesh-owner.ts`): the first
 * SetManifest must be signed by a key the manifest itself names; the owner (the pin of the first manifest's key set)
 * is bound into the Coordinator's evidence and returned by Attest, SetManifest, GetManifests and NewMeshCert; it
 * stays the genesis owner across key rotation and across restart + Recover.
 */
import t from 'tap';
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { EvidenceChecker } from '../../contract/attestation/evidence-check.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import { CcmeshError } from '../../lib/errors.js';
import { coordinatorReportData } from '../../lib/protocol/binding.js';
import { formatMeshOwnerPin, meshOwnerPin, NO_MESH_OWNER } from '../../lib/protocol/mesh-owner.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import { COORDINATOR_STATE, type EvidenceMessage, type UserApiMethods } from '../../lib/protocol/messages.js';
import { decodeMessage, readEvidence } from '../../lib/protocol/limits.js';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { Harness } from './harness.js';

type Tap = { ok(v: unknown, m: string): unknown; match(a: string, b: RegExp, m: string): unknown };

/** `p` must be refused with gRPC status `code` and a message matching `detail`. */
async function refused(t: Tap, p: Promise<unknown>, code: string, detail: RegExp, what: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, `${what}: refused`);
  t.match((err as Error | undefined)?.message ?? '', new RegExp(`${code}: .*${detail.source}`), what);
}

const der = (k: KeyObject): Uint8Array => new Uint8Array(createPublicKey(k).export({ type: 'spki', format: 'der' }));

/** A copy of a manifest document with some top-level fields replaced (owner key lists, meshCert…). */
function edited(manifest: Uint8Array, fields: Record<string, unknown>): Uint8Array {
  const doc = JSON.parse(Buffer.from(manifest).toString('utf8')) as Record<string, unknown>;
  return new Uint8Array(Buffer.from(JSON.stringify({ ...doc, ...fields })));
}

/** Attest with a fresh nonce: the owner the Coordinator names and whether its evidence binds `candidates[i]`. */
async function attest(client: PinnedClient<Pick<UserApiMethods, 'Attest'>>, manifest: Uint8Array, candidates: readonly Uint8Array[]): Promise<{ meshOwner: string; binds: boolean[]; reasons: string[] }> {
  const nonce = new Uint8Array(randomBytes(32));
  const res = await client.call('Attest', { nonce });
  // The answer's evidence checked against the Evidence message's field limits, then in its domain form.
  const evidence = readEvidence('Attest response.evidence', decodeMessage('Attest response.evidence', 'Evidence', res.evidence) as EvidenceMessage);
  const meshOwner = res.meshOwner;
  const checker = new EvidenceChecker();
  const parsed = parseManifest(manifest);
  const verdicts = candidates.map((owner) => checker.check(parsed, evidence, coordinatorReportData(client.spki, nonce, owner), new Date()));
  return { meshOwner, binds: verdicts.map((v) => v.ok), reasons: verdicts.flatMap((v) => (v.ok ? [] : v.reasons)) };
}

void t.test('the first SetManifest must be signed by a key the manifest names', async (t) => {
  const { h, user } = await Harness.started(t);
  const manifest = h.manifest();
  const policies = [h.coordinatorDoc, h.podDoc];

  await refused(t, user.call('SetManifest', { manifest, policies }), 'UNAUTHENTICATED',
    /the first manifest must be signed \(nonce, ownerKey, signature\) by one of its own workloadOwnerKeys/, 'an unsigned first set');
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  await refused(t, user.call('SetManifest', await h.signedSet(user, manifest, policies, stranger.privateKey)), 'PERMISSION_DENIED',
    /ownerKey is not one of the manifest's own workloadOwnerKeys/, 'a first set signed by a key the manifest does not name');
  // The manifest's seed-share key is an owner key too, but not the one that signs a manifest with workload owners.
  await refused(t, user.call('SetManifest', await h.signedSet(user, manifest, policies, h.seedshare.privateKey)), 'PERMISSION_DENIED',
    /ownerKey is not one of the manifest's own workloadOwnerKeys/, 'a first set signed by the seed-share key while the manifest has workload owners');
  // The owner's public key (public knowledge) with a signature that is not the owner's.
  const forged = await h.signedSet(user, manifest, policies, stranger.privateKey);
  await refused(t, user.call('SetManifest', { ...forged, ownerKey: h.spkiHex(h.owner.publicKey) }), 'PERMISSION_DENIED',
    /the signature over the first manifest does not verify/, 'a first set naming the owner key with another key\'s signature');
  // A genuine owner signature over another manifest (the host swaps the document under it).
  const signed = await h.signedSet(user, manifest, policies);
  await refused(t, user.call('SetManifest', { ...signed, manifest: edited(manifest, { meshCert: { leafLifetime: '12h' } }) }), 'PERMISSION_DENIED',
    /the signature over the first manifest does not verify/, 'an owner signature over another manifest');
  const noKeys = edited(manifest, { workloadOwnerKeys: [], seedshareOwnerKeys: [] });
  await refused(t, user.call('SetManifest', await h.signedSet(user, noKeys, policies)), 'INVALID_ARGUMENT',
    /a mesh needs an owner: the manifest names no workloadOwnerKeys and no seedshareOwnerKeys/, 'a manifest without any owner key, even signed');

  const state = await user.call('GetManifests', {});
  t.equal(state.state, COORDINATOR_STATE.fresh, 'after every refusal the Coordinator is still fresh');
  t.equal(state.meshOwner, '', 'and serves no owner');

  const set = await user.call('SetManifest', await h.signedSet(user, manifest, policies));
  t.equal(set.meshOwner, formatMeshOwnerPin(meshOwnerPin([der(h.owner.privateKey)], [der(h.seedshare.privateKey)])), 'signed by its workload owner: accepted, owner = pin of its keys');
});

void t.test('a manifest without workload owner keys is founded by its seed-share key', async (t) => {
  const { h, user } = await Harness.started(t);
  const immutable = edited(h.manifest(), { workloadOwnerKeys: [] });
  const policies = [h.coordinatorDoc, h.podDoc];
  await refused(t, user.call('SetManifest', { manifest: immutable, policies }), 'UNAUTHENTICATED',
    /signed \(nonce, ownerKey, signature\) by one of its own seedshareOwnerKeys/, 'unsigned: refused, naming the seed-share keys');
  await refused(t, user.call('SetManifest', await h.signedSet(user, immutable, policies)), 'PERMISSION_DENIED',
    /ownerKey is not one of the manifest's own seedshareOwnerKeys/, 'signed by a workload key the manifest does not name');
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = await h.signedSet(user, immutable, policies, otherRsa.privateKey);
  await refused(t, user.call('SetManifest', { ...forged, ownerKey: h.spkiHex(h.seedshare.publicKey) }), 'PERMISSION_DENIED',
    /the signature over the first manifest does not verify/, 'the seed-share key named, another RSA key\'s signature');
  const set = await user.call('SetManifest', await h.signedSet(user, immutable, policies, h.seedshare.privateKey));
  t.equal(set.seedShares.length, 1, 'signed by its seed-share key (RSA-PSS): accepted');
  t.equal(set.meshOwner, formatMeshOwnerPin(meshOwnerPin([], [der(h.seedshare.privateKey)])), 'the owner is the pin of the seed-share key alone');
  await refused(t, user.call('SetManifest', await h.signedSet(user, immutable, policies, h.seedshare.privateKey)), 'PERMISSION_DENIED',
    /immutable/, 'and, without workload owners, it can never be changed');
});

void t.test('the mesh owner: bound into Attest evidence, in every response, stable across rotation and recovery', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const manifest1 = h.manifest();
  const policies = [h.coordinatorDoc, h.podDoc];
  const owner = meshOwnerPin([der(h.owner.privateKey)], [der(h.seedshare.privateKey)]);
  const ownerHex = formatMeshOwnerPin(owner);

  // Fresh: no owner; the evidence binds the all-zero owner, never the owner-to-be.
  for (const [api, client] of [['UserAPI', user], ['MeshAPI', mesh]] as const) {
    const fresh = await attest(client, manifest1, [NO_MESH_OWNER, owner]);
    t.equal(fresh.meshOwner, '', `${api} Attest while fresh names no owner`);
    t.same(fresh.binds, [true, false], `${api}: its REPORT_DATA verifies with NO_MESH_OWNER and not with the owner's pin`);
    t.match(fresh.reasons.join('; '), /REPORT_DATA/, 'the mismatch is the REPORT_DATA');
  }

  const set1 = await user.call('SetManifest', await h.signedSet(user, manifest1, policies));
  t.equal(set1.meshOwner, ownerHex, 'SetManifest names the owner: the pin of the first manifest\'s keys');
  for (const [api, client] of [['UserAPI', user], ['MeshAPI', mesh]] as const) {
    const ready = await attest(client, manifest1, [owner, NO_MESH_OWNER]);
    t.equal(ready.meshOwner, ownerHex, `${api} Attest names the owner`);
    t.same(ready.binds, [true, false], `${api}: its REPORT_DATA verifies with the owner's pin only`);
  }
  t.equal((await user.call('GetManifests', {})).meshOwner, ownerHex, 'GetManifests names the owner');
  const pod = await h.newPodCert(mesh);
  t.equal(pod.res.meshOwner, ownerHex, 'NewMeshCert names the owner');

  // The owner rotates to a new workload key (and a second seed-share key): the mesh owner stays the genesis one.
  const rotated = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const seedshare2 = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const manifest2 = edited(manifest1, { workloadOwnerKeys: [h.spkiHex(rotated.publicKey)], seedshareOwnerKeys: [h.spkiHex(h.seedshare.publicKey), h.spkiHex(seedshare2.publicKey)] });
  const set2 = await user.call('SetManifest', await h.signedSet(user, manifest2, policies));
  t.equal(set2.meshOwner, ownerHex, 'an update that rotates the owner keys keeps the genesis owner');
  t.not(formatMeshOwnerPin(meshOwnerPin([der(rotated.privateKey)], [der(h.seedshare.privateKey), der(seedshare2.privateKey)])), ownerHex, 'control: the new key set has another pin');
  const manifest3 = edited(manifest2, { meshCert: { leafLifetime: '12h' } });
  const set3 = await user.call('SetManifest', await h.signedSet(user, manifest3, policies, rotated.privateKey));
  t.equal(set3.meshOwner, ownerHex, 'a set by the rotated key: still the genesis owner');
  t.same((await attest(user, manifest3, [owner])).binds, [true], 'Attest after rotation binds the genesis owner');
  t.equal((await h.newPodCert(mesh)).res.meshOwner, ownerHex, 'NewMeshCert after rotation names the genesis owner');

  // Restart on the same store: recovery serves no owner; Recover recomputes it from the history's FIRST manifest.
  user.close();
  mesh.close();
  const { user: user2, mesh: mesh2 } = await h.restarted(t);
  const inRecovery = await user2.call('GetManifests', {});
  t.equal(inRecovery.state, COORDINATOR_STATE.recovery);
  t.equal(inRecovery.meshOwner, '', 'GetManifests in recovery names no owner');
  const recovering = await attest(mesh2, manifest3, [NO_MESH_OWNER, owner]);
  t.equal(recovering.meshOwner, '', 'Attest in recovery names no owner');
  t.same(recovering.binds, [true, false], 'and binds the all-zero owner');
  const { seed, salt } = decryptSeedShare(seedShareFromMessage(set1.seedShares[0]!), h.seedshare.privateKey);
  await user2.call('Recover', await h.recoverRequest(user2, seed, salt));
  const recovered = await attest(mesh2, manifest3, [owner, NO_MESH_OWNER]);
  t.equal(recovered.meshOwner, ownerHex, 'after Recover, Attest names the genesis owner again (not the latest manifest\'s keys)');
  t.same(recovered.binds, [true, false], 'and binds it into the evidence');
  t.equal((await user2.call('GetManifests', {})).meshOwner, ownerHex, 'GetManifests too');
  t.equal((await h.newPodCert(mesh2)).res.meshOwner, ownerHex, 'NewMeshCert too');
  const manifest4 = edited(manifest3, { meshCert: { leafLifetime: '6h' } });
  t.equal((await user2.call('SetManifest', await h.signedSet(user2, manifest4, policies, rotated.privateKey))).meshOwner, ownerHex, 'and the next SetManifest');
});
