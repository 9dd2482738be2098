/**
 * Mechanics shared by every certificate the Coordinator signs: P-256 key checks and conversion to WebCrypto (which
 * @peculiar/x509 signs with), random serials, and validity windows that never outlive the issuer.
 */
import { createPublicKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { parsePublicKey, safeKeyDetails } from '../../lib/pki/key-details.js';

/** A certificate the Coordinator made: DER, PEM and Node's parsed view (built on first access; parsing is costly). */
export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly certPem: string;
  readonly cert: X509Certificate;
}

/** A CA certificate with its private key, able to sign. */
export interface SigningCa {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
}

/** Signature algorithm of every ccmesh certificate. */
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** How far notBefore is backdated so peers whose clocks lag a little still accept a fresh certificate. */
export const CLOCK_SKEW_MS = 60_000;

/** Throws PKI_INPUT_INVALID unless `key` is an EC P-256 key (private or public). */
export function checkP256(key: KeyObject, what: string): void {
  let details;
  try {
    details = safeKeyDetails(key); // not asymmetricKeyDetails: it aborts the process on a malformed EC point
  } catch (err) {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what} must be an ECDSA P-256 key: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (details.type !== 'ec' || details.namedCurve !== 'prime256v1') {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what} must be an ECDSA P-256 key, got ${details.type}${details.type === 'ec' ? ` ${details.namedCurve}` : ''}`);
  }
}

/** SPKI DER of a P-256 public key given as a KeyObject (private or public) or as SPKI DER bytes. */
export function p256Spki(key: KeyObject | Uint8Array, what: string): Buffer {
  let obj: KeyObject;
  if (key instanceof KeyObject) {
    obj = key.type === 'private' ? createPublicKey(key) : key;
  } else {
    try {
      obj = parsePublicKey(key).key;
    } catch (err) {
      throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what} is not an SPKI DER public key`, { cause: err });
    }
  }
  if (obj.type === 'secret') throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what} is a secret key, not a public key`);
  checkP256(obj, what);
  // Bytes already in the one canonical form (named curve, uncompressed point, nothing trailing: OpenSSL ignores
  // trailing bytes) are what export would return; skipping export halves the cost of a leaf. OpenSSL has checked
  // the point lies on the curve in createPublicKey above.
  if (!(key instanceof KeyObject) && isCanonicalP256Spki(key)) return Buffer.from(key);
  return obj.export({ format: 'der', type: 'spki' });
}

/** SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) 0x04 || X || Y }, up to X. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');
const P256_SPKI_BYTES = P256_SPKI_PREFIX.length + 64;

function isCanonicalP256Spki(der: Uint8Array): boolean {
  return der.length === P256_SPKI_BYTES && P256_SPKI_PREFIX.equals(der.subarray(0, P256_SPKI_PREFIX.length));
}

/** A P-256 private KeyObject as a non-extractable WebCrypto ECDSA signing key. */
export async function toSigningKey(key: KeyObject, what: string): Promise<webcrypto.CryptoKey> {
  if (key.type !== 'private') throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what} must be a private key`);
  checkP256(key, what);
  // KeyObject.toCryptoKey() only exists from Node 22.10; PKCS#8 round-trips on every supported version.
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  try {
    return await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  } finally {
    pkcs8.fill(0);
  }
}

/** Throws PKI_INPUT_INVALID unless `key` is the private key of `cert` (a mismatch would sign unverifiable children). */
export function checkKeyMatchesCert(cert: X509Certificate, key: KeyObject, what: string): void {
  if (key.type !== 'private') throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what}: the key must be a private key`);
  const fromKey = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const fromCert = cert.publicKey.export({ format: 'der', type: 'spki' });
  if (!fromKey.equals(fromCert)) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what}: the private key does not belong to the certificate`);
}

/** 16 random bytes as a positive serial: the top bit is cleared (DER INTEGER sign) and the next set (fixed length). */
export function randomSerialBytes(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b;
}

/** {@link randomSerialBytes} as hex, the form @peculiar/x509 takes. */
export function randomSerialHex(): string {
  return randomSerialBytes().toString('hex');
}

/** The validity window of a new certificate. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * notBefore = now - skew, notAfter = now + lifetime, both whole seconds (what X.509 encodes) and both clamped into
 * the issuer's window, so a child never claims validity its issuer lacks. Throws PKI_CA_EXPIRED when the issuer is
 * not valid now.
 */
export function validityWithin(clock: Clock, lifetimeMs: number, issuer: X509Certificate | undefined, what: string): Validity {
  if (!Number.isSafeInteger(lifetimeMs) || lifetimeMs < 1000) {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what}: lifetime must be a whole number of milliseconds >= 1000, got ${String(lifetimeMs)}`);
  }
  const now = clock.nowMs();
  let notBefore = floorSecond(now - CLOCK_SKEW_MS);
  let notAfter = floorSecond(now + lifetimeMs);
  if (issuer !== undefined) {
    const window = issuerWindow(issuer);
    if (now < window.notBefore || now >= window.notAfter) {
      throw new CcmeshError(
        ErrorCode.PKI_CA_EXPIRED,
        `${what}: the issuing CA is valid from ${new Date(window.notBefore).toISOString()} to ${new Date(window.notAfter).toISOString()}, not now (${new Date(now).toISOString()})`,
      );
    }
    notBefore = Math.max(notBefore, window.notBefore);
    notAfter = Math.min(notAfter, window.notAfter);
  }
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

/** What signing under one CA needs, computed once per CA rather than once per certificate. */
export interface PreparedIssuer {
  readonly signingKey: webcrypto.CryptoKey;
  /** The CA's subject, byte for byte, for the child's issuer field. */
  readonly name: x509.Name;
  /** Authority key identifier of children: the CA's SKI computation over its public key. */
  readonly authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension;
}

// Keyed by the certificate object; the entry remembers which key it was prepared with, so a different key for the
// same certificate object is checked afresh rather than served from the cache.
const prepared = new WeakMap<X509Certificate, { key: KeyObject; issuer: Promise<PreparedIssuer> }>();

/**
 * Checks that `ca.key` belongs to `ca.cert` and converts it for signing, once per (cert, key) pair: key export and
 * import dominate issuance cost otherwise. Throws PKI_INPUT_INVALID on a mismatched or unusable key.
 */
export function prepareIssuer(ca: SigningCa, what: string): Promise<PreparedIssuer> {
  const hit = prepared.get(ca.cert);
  if (hit !== undefined && hit.key === ca.key) return hit.issuer;
  checkKeyMatchesCert(ca.cert, ca.key, what);
  const issuer = (async (): Promise<PreparedIssuer> => ({
    signingKey: await toSigningKey(ca.key, `${what} key`),
    name: subjectNameOf(ca.cert),
    authorityKeyIdentifier: await x509.AuthorityKeyIdentifierExtension.create(p256Spki(ca.cert.publicKey, `${what} certificate key`)),
  }))();
  prepared.set(ca.cert, { key: ca.key, issuer });
  // A failed preparation is not cached: the next call reports the error again instead of a stale rejection.
  issuer.catch(() => prepared.delete(ca.cert));
  return issuer;
}

/** The issuer's validity as epoch milliseconds, read from the DER (Node 20's X509Certificate only offers strings). */
function issuerWindow(cert: X509Certificate): { notBefore: number; notAfter: number } {
  let window = windows.get(cert);
  if (window === undefined) {
    const parsed = new x509.X509Certificate(cert.raw);
    window = { notBefore: parsed.notBefore.getTime(), notAfter: parsed.notAfter.getTime() };
    windows.set(cert, window);
  }
  return window;
}

const windows = new WeakMap<X509Certificate, { notBefore: number; notAfter: number }>();

function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** The issuer's subject as a @peculiar/x509 Name, byte-for-byte, so the child's issuer field matches exactly. */
export function subjectNameOf(cert: X509Certificate): x509.Name {
  return new x509.X509Certificate(cert.raw).subjectName;
}

/** DER, PEM and (lazily) Node's view of a certificate @peculiar/x509 produced. */
export function toIssued(cert: x509.X509Certificate): IssuedCertificate {
  return issuedFromDer(new Uint8Array(cert.rawData));
}

/** DER, PEM and (lazily) Node's view of a certificate we encoded ourselves. */
export function issuedFromDer(der: Uint8Array): IssuedCertificate {
  const certPem = derToPem(der);
  let nodeCert: X509Certificate | undefined;
  return Object.freeze({
    der,
    certPem,
    // Node's X509Certificate constructor costs about as much as signing; NewMeshCert only needs the PEM.
    get cert(): X509Certificate {
      nodeCert ??= new X509Certificate(Buffer.from(der));
      return nodeCert;
    },
  });
}

/** PEM text of a DER certificate, base64 wrapped at 64 columns with a trailing newline (what Node's toString gives). */
export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
