/** Seed-derived secrets: known answers (cross-checked with an independent HKDF), determinism, separation, validity. */
import t from 'tap';
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ErrorCode } from '../../lib/errors.js';
import { deriveSecrets, generateSalt, generateSeed, MAX_LABEL_ARGUMENT_BYTES, SALT_BYTES, SEED_BYTES } from './seed.js';

const seed = Uint8Array.from({ length: 64 }, (_, i) => i);
const salt = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
const spkiHex = (k: KeyObject): string => createPublicKey(k).export({ format: 'der', type: 'spki' }).toString('hex');
const P256_SPKI_PREFIX = '3059301306072a8648ce3d020106082a8648ce3d03010703420004';

void t.test('known-answer vectors pin every label and the scalar mapping (recovery depends on them never changing)', (t) => {
  const s = deriveSecrets(seed, salt);
  // Expected values computed with a separate Python HKDF-SHA256 (RFC 5869) and d = (OKM40 mod (n-1)) + 1.
  t.equal(s.rootCaKey.export({ format: 'jwk' }).d, 'cvxHJwvsIjd3yJZrVim6AGhPOadVeFS8kcyTIn2U03A');
  t.equal(
    spkiHex(s.rootCaKey),
    `${P256_SPKI_PREFIX}5b61dcf547159d0e936d032b46b9debae25a2b58ffdec685b6fe61d4c28b347f43890759791d5f62879745266b50af369a90f82b8df9e712b877a38c15a475aa`,
  );
  const pkcs8 = s.historySigningKey.export({ format: 'der', type: 'pkcs8' });
  t.equal(pkcs8.subarray(-32).toString('hex'), 'b9f2be4aa0283787dc16975c122343b711c3850b0ec92e70b788c57556be1910');
  t.equal(spkiHex(s.historySigningKey), '302a300506032b6570032100d33dc24b899187036b2dfc34e7863777599a614b6dbaf65581bf46ab60682464');
  t.equal(
    Buffer.from(s.workloadSecret('web')).toString('hex'),
    '1d154958b159982c17c1a048f6ccd8e6bd1f14fe7867f2d28fd30eb0b76d45e050e05c5f8ff4c68bf1bdf223b8245076ef691759e777f8fccfd2a89ca9412b1b',
  );
  t.equal(
    spkiHex(s.meshCaKey('0123456789abcdef')),
    `${P256_SPKI_PREFIX}1db0b1ae9af46b941de9877a2e8c13ae65bb59c609c8089d80e6c3a0ceca1245e6661b86faad64472401a5a54cd25dcaaa7e15ec1b121b7e30d296c5253399c3`,
  );
  t.end();
});

void t.test('the same seed and salt give the same keys; a different salt or seed gives different ones', (t) => {
  const seedNow = generateSeed();
  const saltNow = generateSalt();
  t.equal(seedNow.length, SEED_BYTES);
  t.equal(saltNow.length, SALT_BYTES);
  const a = deriveSecrets(seedNow, saltNow);
  const b = deriveSecrets(Uint8Array.from(seedNow), Uint8Array.from(saltNow));
  t.equal(a.rootCaKey.export({ format: 'pem', type: 'pkcs8' }), b.rootCaKey.export({ format: 'pem', type: 'pkcs8' }));
  t.same(a.rootCaKey.export({ format: 'jwk' }), b.rootCaKey.export({ format: 'jwk' }));
  t.equal(a.historySigningKey.export({ format: 'pem', type: 'pkcs8' }), b.historySigningKey.export({ format: 'pem', type: 'pkcs8' }));
  t.same(a.workloadSecret('x'), b.workloadSecret('x'));
  t.equal(spkiHex(a.meshCaKey('g1')), spkiHex(b.meshCaKey('g1')));

  const otherSalt = deriveSecrets(seedNow, generateSalt());
  const otherSeed = deriveSecrets(generateSeed(), saltNow);
  for (const o of [otherSalt, otherSeed]) {
    t.not(spkiHex(o.rootCaKey), spkiHex(a.rootCaKey));
    t.not(spkiHex(o.historySigningKey), spkiHex(a.historySigningKey));
    t.notSame(o.workloadSecret('x'), a.workloadSecret('x'));
  }
  t.end();
});

void t.test('labels, ids and generations separate every output', (t) => {
  const s = deriveSecrets(seed, salt);
  const secrets = ['web', 'db', 'web ', 'Web', 'a\0b', 'a'].map((id) => Buffer.from(s.workloadSecret(id)).toString('hex'));
  t.equal(new Set(secrets).size, secrets.length, 'distinct workload ids give distinct secrets');
  const keys = [
    spkiHex(s.rootCaKey),
    spkiHex(s.meshCaKey('g1')),
    spkiHex(s.meshCaKey('g2')),
    // The root CA label text used as a mesh generation must not reproduce the root key.
    spkiHex(s.meshCaKey('ccmesh root ca key v1')),
  ];
  t.equal(new Set(keys).size, keys.length, 'root and per-generation mesh CA keys differ');
  const secret = s.workloadSecret('web');
  t.equal(secret.length, 64);
  secret.fill(0);
  t.notSame(s.workloadSecret('web'), secret, 'each call returns a fresh copy');
  t.end();
});

void t.test('derived keys sign and verify', (t) => {
  const s = deriveSecrets(generateSeed(), generateSalt());
  const msg = Buffer.from('ccmesh');
  for (const key of [s.rootCaKey, s.meshCaKey('gen')]) {
    t.equal(key.asymmetricKeyType, 'ec');
    t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const sig = sign('sha256', msg, key);
    t.ok(verify('sha256', msg, createPublicKey(key), sig));
    t.notOk(verify('sha256', Buffer.from('other'), createPublicKey(key), sig));
  }
  t.equal(s.historySigningKey.asymmetricKeyType, 'ed25519');
  const sig = sign(null, msg, s.historySigningKey);
  t.ok(verify(null, msg, createPublicKey(s.historySigningKey), sig));
  t.end();
});

void t.test('wrong sizes, empty and over-long ids are refused with PKI_INPUT_INVALID', (t) => {
  const code = { code: ErrorCode.PKI_INPUT_INVALID };
  t.throws(() => deriveSecrets(seed.subarray(1), salt), code);
  t.throws(() => deriveSecrets(seed, salt.subarray(1)), code);
  t.throws(() => deriveSecrets(new Uint8Array(0), salt), code);
  const s = deriveSecrets(seed, salt);
  t.throws(() => s.workloadSecret(''), { ...code, message: /workload id must be a non-empty string/ });
  t.throws(() => s.meshCaKey(''), code);
  t.throws(() => s.workloadSecret('x'.repeat(MAX_LABEL_ARGUMENT_BYTES + 1)), code);
  t.equal(s.workloadSecret('x'.repeat(MAX_LABEL_ARGUMENT_BYTES)).length, 64);
  t.end();
});

void t.test('mutating the caller buffers after derivation changes nothing', (t) => {
  const sd = generateSeed();
  const sl = generateSalt();
  const s = deriveSecrets(sd, sl);
  const before = Buffer.from(s.workloadSecret('w')).toString('hex');
  sd.fill(0);
  sl.fill(0);
  t.equal(Buffer.from(s.workloadSecret('w')).toString('hex'), before);
  t.end();
});
