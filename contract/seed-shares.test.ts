/** Seed shares: RSA-OAEP-SHA256 round trip and each way opening one can fail. */
import t from 'tap';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { ErrorCode } from '../lib/errors.js';
import { generateSalt, generateSeed } from '../coordinator/pki/seed.js';
import { decryptSeedShare, encryptSeedShares, SeedShareError, type SeedShare } from './seed-shares.js';

// One RSA-3072 key per file for the owner; generation is the slow part.
const owner = generateKeyPairSync('rsa', { modulusLength: 3072 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const hexSpki = (k: typeof owner.publicKey): string => k.export({ format: 'der', type: 'spki' }).toString('hex');
const ownerHex = hexSpki(owner.publicKey);
const otherHex = hexSpki(other.publicKey);
const seed = generateSeed();
const salt = generateSalt();

void t.test('each owner opens its own share and gets seed and salt back', (t) => {
  const shares = encryptSeedShares(seed, salt, [ownerHex.toUpperCase(), otherHex]);
  t.equal(shares.length, 2);
  t.equal(shares[0]!.ownerKey, ownerHex, 'owner key normalised to lowercase hex');
  t.equal(Buffer.from(shares[0]!.encryptedSeed, 'base64').length, 384);
  t.same(decryptSeedShare(shares[0]!, owner.privateKey), { seed, salt });
  t.same(decryptSeedShare(shares[1]!, other.privateKey), { seed, salt });
  t.not(shares[0]!.encryptedSeed, encryptSeedShares(seed, salt, [ownerHex])[0]!.encryptedSeed, 'OAEP is randomised');
  t.same(encryptSeedShares(seed, salt, []), []);
  t.end();
});

const reasonOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SeedShareError && err.code === ErrorCode.PKI_SEED_SHARE_INVALID ? err.reason : `unexpected: ${String(err)}`;
  }
};

void t.test('a wrong key, a tampered ciphertext and a foreign plaintext each fail with their reason', (t) => {
  const share = encryptSeedShares(seed, salt, [ownerHex])[0]!;
  t.equal(reasonOf(() => decryptSeedShare(share, other.privateKey)), 'wrong-key');
  t.equal(reasonOf(() => decryptSeedShare({ ...share, ownerKey: otherHex }, owner.privateKey)), 'wrong-key');
  t.equal(reasonOf(() => decryptSeedShare(share, createPublicKey(owner.privateKey) as never)), 'wrong-key');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  t.equal(reasonOf(() => decryptSeedShare(share, ec.privateKey)), 'wrong-key');

  const ct = Buffer.from(share.encryptedSeed, 'base64');
  for (const i of [0, 100, ct.length - 1]) {
    const tampered = Buffer.from(ct);
    tampered[i] = tampered[i]! ^ 0x01;
    t.equal(reasonOf(() => decryptSeedShare({ ...share, encryptedSeed: tampered.toString('base64') }, owner.privateKey)), 'decrypt-failed', `bit flip at ${i}`);
  }
  t.equal(reasonOf(() => decryptSeedShare({ ...share, encryptedSeed: ct.subarray(1).toString('base64') }, owner.privateKey)), 'decrypt-failed');
  t.equal(reasonOf(() => decryptSeedShare({ ...share, encryptedSeed: 'not base64!' }, owner.privateKey)), 'bad-format');
  t.equal(reasonOf(() => decryptSeedShare({ ...share, encryptedSeed: '' }, owner.privateKey)), 'bad-format');

  const oaep = (plaintext: Buffer): SeedShare => ({
    ownerKey: ownerHex,
    encryptedSeed: publicEncrypt({ key: owner.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, plaintext).toString('base64'),
  });
  const v1 = Buffer.concat([Buffer.from('ccss'), Buffer.of(1), seed, salt]);
  t.same(decryptSeedShare(oaep(v1), owner.privateKey), { seed, salt }, 'the documented v1 layout opens');
  t.equal(reasonOf(() => decryptSeedShare(oaep(Buffer.concat([seed, salt])), owner.privateKey)), 'bad-format', 'raw seed ‖ salt without header');
  t.equal(reasonOf(() => decryptSeedShare(oaep(Buffer.concat([Buffer.from('ccss'), Buffer.of(2), seed, salt])), owner.privateKey)), 'bad-format', 'version 2');
  t.equal(reasonOf(() => decryptSeedShare(oaep(v1.subarray(0, v1.length - 1)), owner.privateKey)), 'bad-format', 'truncated');
  t.equal(reasonOf(() => decryptSeedShare(oaep(Buffer.concat([v1, Buffer.of(0)])), owner.privateKey)), 'bad-format', 'trailing byte');
  t.equal(reasonOf(() => decryptSeedShare(oaep(Buffer.alloc(0)), owner.privateKey)), 'bad-format', 'empty');
  // With a hash mismatch (SHA-1 OAEP) decryption itself fails.
  const sha1 = publicEncrypt({ key: owner.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, v1).toString('base64');
  t.equal(reasonOf(() => decryptSeedShare({ ownerKey: ownerHex, encryptedSeed: sha1 }, owner.privateKey)), 'decrypt-failed');
  t.end();
});

void t.test('unusable owner keys and wrong sizes are refused when encrypting', (t) => {
  const code = { code: ErrorCode.PKI_INPUT_INVALID };
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  t.throws(() => encryptSeedShares(seed, salt, ['zz']), { ...code, message: /owner key 0 is not hex/ });
  t.throws(() => encryptSeedShares(seed, salt, ['']), code);
  t.throws(() => encryptSeedShares(seed, salt, [ownerHex, '00ff']), { ...code, message: /owner key 1 is not an SPKI/ });
  t.throws(() => encryptSeedShares(seed, salt, [hexSpki(ec.publicKey)]), { ...code, message: /ec key, expected RSA/ });
  t.throws(() => encryptSeedShares(seed, salt, [hexSpki(pss.publicKey)]), { ...code, message: /rsa-pss key/ });
  t.throws(() => encryptSeedShares(seed, salt, [hexSpki(small.publicKey)]), { ...code, message: /1024-bit/ });
  t.throws(() => encryptSeedShares(seed.subarray(0, 32), salt, [ownerHex]), code);
  t.throws(() => encryptSeedShares(seed, salt.subarray(0, 16), [ownerHex]), code);
  t.end();
});
