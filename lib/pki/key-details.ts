/**
 * Public-key details read from SPKI DER by ccmesh itself, before OpenSSL looks at the key.
 *
 * SECURITY: on Node 20, an EC key whose point is the point at infinity (a BIT STRING holding the single octet 0x00)
 * is accepted by `createPublicKey` and by `X509Certificate#publicKey`, and then reading `asymmetricKeyDetails` (or
 * exporting it as a JWK) aborts the whole process in native code: no exception, nothing to catch. Such a key reaches
 * us from unauthenticated peers (a pod's key in a Coordinator request) and from evidence (a VEK or PCK certificate).
 * Every key from outside is therefore read here first: the algorithm, the named curve and, for EC, an uncompressed
 * point of the right length with coordinates below the field prime that satisfies the curve equation. Only then is
 * a KeyObject built. The details returned replace `asymmetricKeyDetails` for such keys.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { bitStringBytes, children, decodeOid, DerError, at, integerBytes, readOne, Tag } from '../asn1/der.js';
import { CcmeshError, ErrorCode } from '../errors.js';

/** What ccmesh knows about a public key, read from its SPKI DER. */
export type PublicKeyDetails =
  | { readonly type: 'ec'; readonly namedCurve: EcCurveName }
  | { readonly type: 'rsa' | 'rsa-pss'; readonly modulusLength: number }
  | { readonly type: 'ed25519' | 'ed448' | 'x25519' | 'x448' };

/** The EC curves ccmesh reads (OpenSSL names, as `asymmetricKeyDetails.namedCurve` spells them). */
export type EcCurveName = 'prime256v1' | 'secp384r1' | 'secp521r1';

interface Curve {
  readonly name: EcCurveName;
  readonly bytes: number;
  readonly p: bigint;
  readonly b: bigint;
}

// Short Weierstrass curves y² = x³ − 3x + b over GF(p) (FIPS 186-4 D.1.2.3–D.1.2.5).
const CURVES: ReadonlyMap<string, Curve> = new Map([
  ['1.2.840.10045.3.1.7', {
    name: 'prime256v1',
    bytes: 32,
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  }],
  ['1.3.132.0.34', {
    name: 'secp384r1',
    bytes: 48,
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  }],
  ['1.3.132.0.35', {
    name: 'secp521r1',
    bytes: 66,
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  }],
]);

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const OTHER: ReadonlyMap<string, 'ed25519' | 'ed448' | 'x25519' | 'x448'> = new Map([
  ['1.3.101.112', 'ed25519'],
  ['1.3.101.113', 'ed448'],
  ['1.3.101.110', 'x25519'],
  ['1.3.101.111', 'x448'],
]);

/** Reads the details of the public key in `spki` (SubjectPublicKeyInfo DER); throws PKI_INPUT_INVALID when malformed. */
export function readSpkiDetails(spki: Uint8Array): PublicKeyDetails {
  try {
    return readSpki(spki);
  } catch (err) {
    if (err instanceof DerError) throw invalid(`not a SubjectPublicKeyInfo: ${err.message}`, err);
    throw err;
  }
}

function readSpki(spki: Uint8Array): PublicKeyDetails {
  const top = children(readOne(spki, Tag.SEQUENCE));
  if (top.length !== 2) throw invalid(`a SubjectPublicKeyInfo has 2 elements, found ${top.length}`);
  const alg = children(at(top, 0, 'algorithm'));
  const algOid = decodeOid(at(alg, 0, 'algorithm OID'));
  const bits = bitStringBytes(at(top, 1, 'subjectPublicKey'));
  if (algOid === EC_PUBLIC_KEY) {
    const params = at(alg, 1, 'EC named curve');
    if (params.tag !== Tag.OID || alg.length !== 2) throw invalid('EC key parameters must be a single named-curve OID');
    const curveOid = decodeOid(params);
    const curve = CURVES.get(curveOid);
    if (!curve) throw invalid(`EC keys on curve ${curveOid} are not supported (only P-256, P-384 and P-521)`);
    checkPoint(bits, curve);
    return { type: 'ec', namedCurve: curve.name };
  }
  if (algOid === RSA_ENCRYPTION || algOid === RSASSA_PSS) {
    const rsa = children(readOne(bits, Tag.SEQUENCE));
    if (rsa.length !== 2) throw invalid(`an RSA public key has 2 integers, found ${rsa.length}`);
    const nNode = at(rsa, 0, 'RSA modulus');
    const n = integerBytes(nNode);
    const e = integerBytes(at(rsa, 1, 'RSA public exponent'));
    if ((nNode.value[0]! & 0x80) !== 0) throw invalid('RSA modulus is negative');
    if (n.length === 1 && n[0] === 0) throw invalid('RSA modulus is zero');
    if ((e[e.length - 1]! & 1) === 0) throw invalid('RSA public exponent is even');
    const modulusLength = (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
    return { type: algOid === RSA_ENCRYPTION ? 'rsa' : 'rsa-pss', modulusLength };
  }
  const other = OTHER.get(algOid);
  if (other) return { type: other };
  throw invalid(`public key algorithm ${algOid} is not supported`);
}

/** Throws unless `point` is an uncompressed point on `curve` other than the point at infinity. */
function checkPoint(point: Uint8Array, curve: Curve): void {
  if (point.length !== 1 + 2 * curve.bytes || point[0] !== 0x04) {
    throw invalid(`an EC ${curve.name} public key must be an uncompressed point of ${1 + 2 * curve.bytes} bytes, found ${point.length} bytes starting 0x${(point[0] ?? 0).toString(16).padStart(2, '0')}`);
  }
  const x = toBigInt(point.subarray(1, 1 + curve.bytes));
  const y = toBigInt(point.subarray(1 + curve.bytes));
  if (x >= curve.p || y >= curve.p) throw invalid(`EC ${curve.name} point coordinates must be below the field prime`);
  const { p } = curve;
  const lhs = (y * y) % p;
  const rhs = (((x * x) % p) * x - 3n * x + curve.b) % p;
  if (lhs !== (rhs + p) % p) throw invalid(`EC ${curve.name} point is not on the curve`);
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

/** Reads `spki` ({@link readSpkiDetails}) and only then builds the KeyObject; throws PKI_INPUT_INVALID. */
export function parsePublicKey(spki: Uint8Array): { key: KeyObject; details: PublicKeyDetails } {
  const details = readSpkiDetails(spki);
  try {
    return { key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), details };
  } catch (err) {
    throw invalid(`OpenSSL refused the key: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/**
 * The details of a KeyObject that came from outside (an X509Certificate's key, a parsed private key), read from its
 * SPKI export: use this instead of `asymmetricKeyDetails`, which aborts the process on a malformed EC key. Throws
 * PKI_INPUT_INVALID.
 */
export function safeKeyDetails(key: KeyObject): PublicKeyDetails {
  if (key.type === 'secret') throw invalid('a secret key is not a public key');
  let spki: Buffer;
  try {
    // Exporting is safe where the details getter is not: it throws for a point it can't encode.
    spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw invalid(`the key cannot be exported: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return readSpkiDetails(spki);
}

/** True when `key` is a well-formed EC key on `curve`; never throws. */
export function isEcKeyOn(key: KeyObject, curve: EcCurveName): boolean {
  try {
    const d = safeKeyDetails(key);
    return d.type === 'ec' && d.namedCurve === curve;
  } catch {
    return false;
  }
}

function invalid(message: string, cause?: unknown): CcmeshError {
  return new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `public key: ${message}`, cause === undefined ? undefined : { cause });
}
