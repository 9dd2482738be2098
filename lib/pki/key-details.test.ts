import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isEcKeyOn, parsePublicKey, readSpkiDetails, safeKeyDetails } from './key-details.js';

const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const P256_ALG = '301306072a8648ce3d020106082a8648ce3d030107';
const P384_ALG = '301006072a8648ce3d020106052b81040022';
/** SPKI with the given AlgorithmIdentifier (hex) and BIT STRING contents after the unused-bits octet. */
function ecSpki(algHex: string, point: Buffer): Buffer {
  const alg = Buffer.from(algHex, 'hex');
  const bits = Buffer.concat([Buffer.of(0x03, point.length + 1, 0x00), point]);
  const body = Buffer.concat([alg, bits]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}
/** The point at infinity as SEC 1 encodes it: one zero octet. */
const INFINITY_P256 = ecSpki(P256_ALG, Buffer.of(0x00));
const INFINITY_P384 = ecSpki(P384_ALG, Buffer.of(0x00));
const invalid = { code: 'CCMESH_ERR_PKI_INPUT_INVALID' };

void t.test('Node aborts the process reading the details of a point-at-infinity key (why this module exists)', (t) => {
  // If a future Node throws instead, this test fails and the comment in key-details.ts should be revisited.
  const script = `const { createPublicKey } = require('node:crypto');
    const k = createPublicKey({ key: Buffer.from('${INFINITY_P256.toString('hex')}', 'hex'), format: 'der', type: 'spki' });
    try { k.asymmetricKeyDetails; } catch { process.exit(3); }
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(r.status, null, `the child ended by a signal, not an exit code (${String(r.status)})`);
  t.equal(r.signal, 'SIGABRT');
  t.end();
});

void t.test('well-formed keys: the same details Node reports', (t) => {
  t.same(readSpkiDetails(spki(p256.publicKey)), { type: 'ec', namedCurve: 'prime256v1' });
  t.same(readSpkiDetails(spki(p384.publicKey)), { type: 'ec', namedCurve: 'secp384r1' });
  for (const bits of [2048, 3072]) {
    const rsa = generateKeyPairSync('rsa', { modulusLength: bits });
    t.same(readSpkiDetails(spki(rsa.publicKey)), { type: 'rsa', modulusLength: bits });
    t.same(safeKeyDetails(rsa.privateKey), { type: 'rsa', modulusLength: bits });
  }
  t.same(readSpkiDetails(spki(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey)), { type: 'rsa-pss', modulusLength: 2048 });
  t.same(readSpkiDetails(spki(generateKeyPairSync('ed25519').publicKey)), { type: 'ed25519' });
  t.same(safeKeyDetails(p256.privateKey), { type: 'ec', namedCurve: 'prime256v1' });
  t.ok(isEcKeyOn(p384.publicKey, 'secp384r1'));
  t.notOk(isEcKeyOn(p384.publicKey, 'prime256v1'));
  const { key, details } = parsePublicKey(spki(p256.publicKey));
  t.equal(key.asymmetricKeyType, 'ec');
  t.same(details, { type: 'ec', namedCurve: 'prime256v1' });
  t.end();
});

void t.test('many random keys are all on their curves (the curve constants are right)', (t) => {
  const curves = [['P-256', 'prime256v1'], ['P-384', 'secp384r1'], ['P-521', 'secp521r1']] as const;
  for (let i = 0; i < 60; i++) {
    const [curve, name] = curves[i % 3]!;
    t.same(readSpkiDetails(spki(generateKeyPairSync('ec', { namedCurve: curve }).publicKey)), { type: 'ec', namedCurve: name });
  }
  t.end();
});

void t.test('malformed EC keys are refused with an ordinary error, before OpenSSL sees them', (t) => {
  const good = spki(p256.publicKey);
  const point = good.subarray(good.length - 65);
  const x = point.subarray(1, 33);
  const y = point.subarray(33);
  const P = Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex');
  const cases: [string, Buffer, RegExp][] = [
    ['point at infinity (P-256)', INFINITY_P256, /uncompressed point of 65 bytes, found 1 bytes starting 0x00/],
    ['point at infinity (P-384)', INFINITY_P384, /uncompressed point of 97 bytes, found 1 bytes/],
    ['all-zero point', ecSpki(P256_ALG, Buffer.concat([Buffer.of(4), Buffer.alloc(64)])), /not on the curve/],
    ['compressed point', ecSpki(P256_ALG, Buffer.concat([Buffer.of(2), x])), /uncompressed point/],
    ['hybrid point', ecSpki(P256_ALG, Buffer.concat([Buffer.of(6), x, y])), /uncompressed point/],
    ['off-curve point', ecSpki(P256_ALG, Buffer.concat([Buffer.of(4), x, Buffer.from(y.map((b, i) => (i === 31 ? b ^ 1 : b)))])), /not on the curve/],
    ['x = p', ecSpki(P256_ALG, Buffer.concat([Buffer.of(4), P, y])), /below the field prime/],
    ['P-256 point under the P-384 OID', ecSpki(P384_ALG, point), /97 bytes, found 65/],
    ['unsupported curve (secp256k1)', ecSpki('301006072a8648ce3d020106052b8104000a', point), /curve 1\.3\.132\.0\.10 are not supported/],
    ['explicit curve parameters', ecSpki('300b06072a8648ce3d02013000', point), /single named-curve OID/],
    ['trailing bytes', Buffer.concat([good, Buffer.of(0)]), /trailing bytes/],
    ['truncated', good.subarray(0, good.length - 1), /runs past the end/],
    ['unknown algorithm', ecSpki('300706052b0e03020c', point), /algorithm 1\.3\.14\.3\.2\.12 is not supported/],
    ['RSA modulus zero', Buffer.from('301a300d06092a864886f70d01010105000309003006020100020103', 'hex'), /modulus is zero/],
  ];
  for (const [name, der, message] of cases) {
    t.throws(() => readSpkiDetails(der), { ...invalid, message }, name);
    t.throws(() => parsePublicKey(der), invalid, `${name}: parsePublicKey`);
  }
  t.end();
});

void t.test('a private key with scalar 0 derives the point at infinity: safeKeyDetails refuses it without aborting', (t) => {
  const sec1 = Buffer.from(`30310201010420${'00'.repeat(32)}a00a06082a8648ce3d030107`, 'hex');
  const zero = createPrivateKey({ key: sec1, format: 'der', type: 'sec1' });
  t.throws(() => safeKeyDetails(zero), { ...invalid, message: /found 1 bytes/ });
  t.notOk(isEcKeyOn(zero, 'prime256v1'));
  t.end();
});
