// Sealing seed and salt between Coordinator replicas (peer-seed.ts): a round trip opens to the same bytes; another
// requester key, any flipped byte, a wrong length, and a serving key that is not P-256 are each refused with a reason.
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ephemeralKey, openPeerSeed, readP256Spki, SEALED_SEED_BYTES, sealPeerSeed } from './peer-seed.js';

const seed = new Uint8Array(randomBytes(64));
const salt = new Uint8Array(randomBytes(32));

void t.test('peer seed: round trip, and every kind of damage refused', (t) => {
  const requester = ephemeralKey();
  const { servingSpki, sealed } = sealPeerSeed(seed, salt, readP256Spki(requester.spki)!, requester.spki);
  t.equal(sealed.length, SEALED_SEED_BYTES, `${SEALED_SEED_BYTES} bytes`);
  const opened = openPeerSeed(sealed, servingSpki, requester);
  t.ok(opened.ok && Buffer.from(opened.value.seed).equals(seed) && Buffer.from(opened.value.salt).equals(salt), 'opens to the same seed and salt');
  const again = sealPeerSeed(seed, salt, readP256Spki(requester.spki)!, requester.spki);
  t.not(Buffer.from(again.servingSpki).toString('hex'), Buffer.from(servingSpki).toString('hex'), 'a fresh serving key per answer');

  t.match(openPeerSeed(sealed, servingSpki, ephemeralKey()), { ok: false, reason: /does not authenticate/ }, 'another requester key does not open it');
  t.match(openPeerSeed(sealed, ephemeralKey().spki, requester), { ok: false, reason: /does not authenticate/ }, 'another serving key does not open it');
  for (const at of [0, 11, 12, 60, 107, 108, SEALED_SEED_BYTES - 1]) {
    const bent = new Uint8Array(sealed);
    bent[at] = bent[at]! ^ 0x01;
    t.match(openPeerSeed(bent, servingSpki, requester), { ok: false, reason: /does not authenticate/ }, `a flipped bit at byte ${at} is refused`);
  }
  t.match(openPeerSeed(sealed.subarray(1), servingSpki, requester), { ok: false, reason: /is 123 bytes, expected 124/ }, 'a short answer is refused by length');
  const ed = new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }));
  t.match(openPeerSeed(sealed, ed, requester), { ok: false, reason: /not an ECDH P-256/ }, 'a serving key of another kind is refused');
  t.equal(readP256Spki(new Uint8Array([1, 2, 3])), undefined, 'garbage is no key');
  const p384 = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'der' }));
  t.equal(readP256Spki(p384), undefined, 'P-384 is not P-256');
  t.end();
});
