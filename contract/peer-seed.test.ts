// Sealing seed and salt between Coordinator replicas (peer-seed.ts): a round trip opens to the same bytes; another
// requester key, any flipped byte, a wrong length, and a serving key that is not P-256 are each refused with a reason;
// and a known answer, sealed outside this code base, opens (so the key derivation is the specified one).
import t from 'tap';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { infinitySpki } from '../test/support/pki/hostile-keys.js';
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
  t.equal(readP256Spki(new Uint8Array(infinitySpki('P-256'))), undefined, 'the point at infinity is no key (and does not abort the process)');
  const p384 = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'der' }));
  t.equal(readP256Spki(p384), undefined, 'P-384 is not P-256');
  t.end();
});

void t.test('peer seed: a known answer sealed as specified opens', (t) => {
  // Computed with Python's `cryptography` package from fixed P-256 scalars (0x11…11 requester, 0x22…22 serving):
  // ECDH(serving, requester) → HKDF-SHA256(salt empty, info = "ccmesh/share-seed/v1" ‖ 0x00 ‖ SHA-256(requester SPKI)
  // ‖ SHA-256(serving SPKI), 32 bytes) → AES-256-GCM(iv 00..0b, seed 0x5e×64 ‖ salt 0x5a×32, additional data = info).
  const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
  const requester = {
    privateKey: createPrivateKey({ key: Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104201111111111111111111111111111111111111111111111111111111111111111a144034200040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794', 'hex'), format: 'der', type: 'pkcs8' }),
    spki: hex('3059301306072a8648ce3d020106082a8648ce3d030107034200040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794'),
  };
  const serving = hex('3059301306072a8648ce3d020106082a8648ce3d03010703420004d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf350185e895372df6221ea3a137557e473fddb6755f05bd507c3c533fce9c91285');
  const sealed = hex('000102030405060708090a0be76d32cb2c179c5b050fd8f3586e54b6541cc525eba6037011b88a4b975aed951fceacb3e61a2aad348ba9df5a939d836f71cfbacc82822073d599449c730e161356313603068be6299b36091c58454d65efe7c1475428f9e459da76104a528c432a1fea59fc8dfe09bd7d5d27d8dc25');
  const opened = openPeerSeed(sealed, serving, requester);
  t.ok(opened.ok, `opens: ${opened.ok ? '' : opened.reason}`);
  t.same(opened.ok ? [Buffer.from(opened.value.seed).toString('hex'), Buffer.from(opened.value.salt).toString('hex')] : [], ['5e'.repeat(64), '5a'.repeat(32)], 'to the seed and salt sealed');
  t.end();
});
