/**
 * Recover's own refusals, each with a request that passes every other check: Recover outside recovery mode, the
 * seed-share owner's key named with a signature that is not its own, a nonce the Coordinator never issued, and a seed
 * that does not reproduce the stored history's signature. The Coordinator stays in recovery after each, and the
 * genuine request recovers it.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { recoverSignedData, signBinding } from '../../lib/protocol/binding.js';
import { COORDINATOR_STATE } from '../../lib/protocol/messages.js';
import { generateSalt, generateSeed } from '../pki/seed.js';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { Harness, refused } from './harness.js';

void t.test('Recover is refused unless every part of it is right, and only in recovery mode', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await refused(t, user.call('Recover', await h.recoverRequest(user, generateSeed(), generateSalt())), 'FAILED_PRECONDITION', /the Coordinator is fresh, not in recovery mode/, 'Recover while fresh');
  const set = await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const { seed, salt } = decryptSeedShare(seedShareFromMessage(set.seedShares[0]!), h.seedshare.privateKey);
  await refused(t, user.call('Recover', await h.recoverRequest(user, seed, salt)), 'FAILED_PRECONDITION', /the Coordinator is ready, not in recovery mode/, 'the genuine request while ready');
  user.close();
  mesh.close();

  const { user: user2 } = await h.restarted(t);
  const ownerHex = h.spkiHex(h.seedshare.publicKey);
  // The owner's key named; the signature made by another RSA key over exactly the right bytes.
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await refused(t, user2.call('Recover', { ...(await h.recoverRequest(user2, seed, salt, stranger.privateKey)), ownerKey: ownerHex }), 'PERMISSION_DENIED',
    /the seed-share owner signature does not verify/, 'the owner key named, another key\'s signature');
  const genuine = await h.recoverRequest(user2, seed, salt);
  const flipped = Buffer.from(genuine.signature);
  flipped.writeUInt8(flipped.readUInt8(0) ^ 1, 0);
  await refused(t, user2.call('Recover', { ...genuine, signature: flipped }), 'PERMISSION_DENIED',
    /the seed-share owner signature does not verify/, 'the owner\'s signature with one bit flipped');

  // The owner's genuine signature, over a nonce the Coordinator never issued (e.g. one a relay chose).
  const made = new Uint8Array(32).fill(5);
  const overMadeNonce = signBinding(recoverSignedData(seed, salt, made, user2.spki), h.seedshare.privateKey);
  await refused(t, user2.call('Recover', { seed, salt, nonce: made, ownerKey: ownerHex, signature: overMadeNonce }), 'PERMISSION_DENIED',
    /unknown or already used nonce/, 'the owner\'s signature over a nonce the Coordinator never issued');

  // Signed by the owner, but a seed (or salt) that is not the history's.
  await refused(t, user2.call('Recover', await h.recoverRequest(user2, seed, generateSalt())), 'PERMISSION_DENIED',
    /this seed does not match the Coordinator's history/, 'the right seed with another salt');
  t.equal((await user2.call('GetManifests', {})).state, COORDINATOR_STATE.recovery, 'after every refusal: still in recovery');

  await user2.call('Recover', await h.recoverRequest(user2, seed, salt));
  t.equal((await user2.call('GetManifests', {})).state, COORDINATOR_STATE.ready, 'control: the genuine request recovers');
});
