/**
 * SetManifest's authorisation, each refusal shown with a request that is complete and correct except for the one
 * part under test: an update signed by another key under the owner's name, an update signed by a key only the new
 * manifest names, a replayed update (which would roll the manifest back), a first set over a nonce the Coordinator
 * never issued, a set that queued behind the first manifest, an update that waited behind another, and too many
 * policy documents.
 */
import t from 'tap';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { setManifestSignedData, signBinding } from '../../lib/protocol/binding.js';
import { COORDINATOR_STATE } from '../../lib/protocol/messages.js';
import type { Coordinator, SetManifestRequest } from '../core/coordinator.js';
import { MANIFEST_LIMITS } from '../../contract/manifest/limits.js';
import { Harness, refused, sha256hex } from './harness.js';

/** A copy of a manifest document with some top-level fields replaced. */
function edited(manifest: Uint8Array, fields: Record<string, unknown>): Uint8Array {
  const doc = JSON.parse(Buffer.from(manifest).toString('utf8')) as Record<string, unknown>;
  return new Uint8Array(Buffer.from(JSON.stringify({ ...doc, ...fields })));
}

/** A SetManifest request for the Coordinator core, signed by `key` (named as `ownerKey` unless `named` is given). */
function coreRequest(h: Harness, core: Coordinator, tlsSpki: Uint8Array, manifest: Uint8Array, policies: Uint8Array[], key: KeyObject, named: KeyObject = key): SetManifestRequest {
  const nonce = core.nonce();
  return { manifest, policies, nonce, ownerKey: h.spkiHex(named), signature: signBinding(setManifestSignedData(manifest, policies, nonce, tlsSpki), key) };
}

const rejection = (p: Promise<unknown>): Promise<{ code?: number; message?: string } | undefined> => p.then(() => undefined, (e: unknown) => e as { code?: number; message?: string });

void t.test('an update complete and correct but for its signature is refused by the signature check', async (t) => {
  const { h, user } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));
  const apiDoc = new Uint8Array(Buffer.from('pod api policy v1'));
  const manifest2 = h.manifest([sha256hex(apiDoc)]);
  const policies2 = [...policies, apiDoc];

  // The owner's key named, the signature made by another key over exactly the right bytes.
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const byStranger = await h.signedSet(user, manifest2, policies2, stranger.privateKey);
  await refused(t, user.call('SetManifest', { ...byStranger, ownerKey: h.spkiHex(h.owner.publicKey) }), 'PERMISSION_DENIED',
    /the workload owner signature does not verify/, 'the owner key named, another key\'s signature');
  // The owner's own signature, one bit changed.
  const genuine = await h.signedSet(user, manifest2, policies2);
  const flipped = Buffer.from(genuine.signature!);
  flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 1, flipped.length - 1);
  await refused(t, user.call('SetManifest', { ...genuine, signature: flipped }), 'PERMISSION_DENIED',
    /the workload owner signature does not verify/, 'the owner\'s signature with one bit flipped');
  t.equal((await user.call('GetManifests', {})).manifests.length, 1, 'no refused update changed the history');

  const accepted = await user.call('SetManifest', await h.signedSet(user, manifest2, policies2));
  t.ok(accepted.transitionHash, 'control: the same update, signed by the owner, is accepted');
});

void t.test('an update signed by a key the new manifest adds, but the current one does not name, is refused', async (t) => {
  const { h, user } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  const manifest1 = h.manifest();
  await user.call('SetManifest', await h.signedSet(user, manifest1, policies));
  const intruder = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  // The intruder's manifest makes it a workload owner; it signs that manifest with its own key.
  const takeover = edited(manifest1, { workloadOwnerKeys: [h.spkiHex(intruder.publicKey)] });
  await refused(t, user.call('SetManifest', await h.signedSet(user, takeover, policies, intruder.privateKey)), 'PERMISSION_DENIED',
    /ownerKey is not one of the current manifest's workloadOwnerKeys/, 'signed by a key only the new manifest names');
  t.equal((await user.call('GetManifests', {})).manifests.length, 1, 'the history is unchanged');
  t.ok(await user.call('SetManifest', await h.signedSet(user, takeover, policies)), 'control: the current owner may hand over to that key');
});

void t.test('a correctly signed update can\'t be replayed: its nonce is used up', async (t) => {
  const { h, user } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));
  const v1Doc = new Uint8Array(Buffer.from('pod api policy v1'));
  const v2Doc = new Uint8Array(Buffer.from('pod api policy v2'));
  const updateV1 = await h.signedSet(user, h.manifest([sha256hex(v1Doc)]), [...policies, v1Doc]);
  await user.call('SetManifest', updateV1);
  const setV2 = await user.call('SetManifest', await h.signedSet(user, h.manifest([sha256hex(v2Doc)]), [...policies, v2Doc]));

  // Someone who saw the v1 update sends it again to roll the mesh back to v1.
  await refused(t, user.call('SetManifest', updateV1), 'PERMISSION_DENIED', /unknown or already used nonce/, 'the v1 update replayed after v2');
  const state = await user.call('GetManifests', {});
  t.equal(state.transitions.length, 3, 'the history is unchanged');
  t.equal(state.transitions.at(-1), setV2.transitionHash, 'v2 is still current');
});

void t.test('a first manifest signed over a nonce the Coordinator never issued is refused', async (t) => {
  const { h, user } = await Harness.started(t);
  const manifest = h.manifest();
  const policies = [h.coordinatorDoc, h.podDoc];
  const nonce = new Uint8Array(32).fill(7);
  const signature = signBinding(setManifestSignedData(manifest, policies, nonce, user.spki), h.owner.privateKey);
  await refused(t, user.call('SetManifest', { manifest, policies, nonce, ownerKey: h.spkiHex(h.owner.publicKey), signature }),
    'PERMISSION_DENIED', /unknown or already used nonce/, 'the owner\'s signature over a made-up nonce');
  t.equal((await user.call('GetManifests', {})).state, COORDINATOR_STATE.fresh, 'the Coordinator is still fresh');
  t.ok(await user.call('SetManifest', await h.signedSet(user, manifest, policies)), 'control: over an issued nonce it is accepted');
});

void t.test('a first set that queued behind another first set is judged as an update of the manifest that won', async (t) => {
  const { h, user } = await Harness.started(t);
  const core = h.coordinator!.core;
  const policies = [h.coordinatorDoc, h.podDoc];
  const manifest1 = h.manifest();
  const intruder = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const intruders = edited(manifest1, { workloadOwnerKeys: [h.spkiHex(intruder.publicKey)] });
  // Both arrive while the Coordinator is fresh; each is signed by a key its own manifest names.
  const owners = core.setManifest(coreRequest(h, core, user.spki, manifest1, policies, h.owner.privateKey));
  const queued = rejection(core.setManifest(coreRequest(h, core, user.spki, intruders, policies, intruder.privateKey)));
  t.ok(await owners, 'the owner\'s first set wins');
  const err = await queued;
  t.match(err, { code: 7, message: /^ownerKey is not one of the current manifest's workloadOwnerKeys/ }, 'the queued one is an update, not signed by a current owner: PERMISSION_DENIED');
  t.equal((await user.call('GetManifests', {})).manifests.length, 1, 'the history holds the owner\'s manifest only');
});

void t.test('an update that waited behind another update is refused as a conflict, not applied to the new manifest', async (t) => {
  const { h, user } = await Harness.started(t);
  const core = h.coordinator!.core;
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));
  const aDoc = new Uint8Array(Buffer.from('pod a policy v1'));
  const bDoc = new Uint8Array(Buffer.from('pod b policy v1'));
  const first = core.setManifest(coreRequest(h, core, user.spki, h.manifest([sha256hex(aDoc)]), [...policies, aDoc], h.owner.privateKey));
  const second = rejection(core.setManifest(coreRequest(h, core, user.spki, h.manifest([sha256hex(bDoc)]), [...policies, bDoc], h.owner.privateKey)));
  t.ok(await first, 'the first update is applied');
  t.match(await second, { code: 10, message: /^the manifest changed while this update waited; fetch it again, sign and retry/ }, 'the second: ABORTED, to be re-signed against the new manifest');
  t.equal((await user.call('GetManifests', {})).manifests.length, 2);
});

void t.test('more policy documents than the limit are refused before any other work', async (t) => {
  const { h, user } = await Harness.started(t);
  const core = h.coordinator!.core;
  const tiny = new Uint8Array(1);
  const err = await rejection(core.setManifest({ manifest: h.manifest(), policies: Array.from({ length: MANIFEST_LIMITS.policies + 1 }, () => tiny) }));
  t.match(err, { code: 3, message: `at most ${MANIFEST_LIMITS.policies} policy documents` }, 'INVALID_ARGUMENT naming the limit');
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const update = coreRequest(h, core, user.spki, h.manifest(), Array.from({ length: MANIFEST_LIMITS.policies + 1 }, () => tiny), h.owner.privateKey);
  t.match(await rejection(core.setManifest(update)), { code: 3, message: `at most ${MANIFEST_LIMITS.policies} policy documents` }, 'an update too, even correctly signed');
});
