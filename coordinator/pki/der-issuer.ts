/**
 * What signing a hand-encoded certificate under one CA needs, read once per CA from its certificate DER: the subject
 * Name bytes (copied verbatim into the child's issuer field, so name chaining compares equal byte for byte) and
 * the key identifier for the child's authorityKeyIdentifier.
 */
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { bitStringBytes, children, decodeOid, DerError, readOne, Tag, type DerNode } from '../../lib/asn1/der.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { checkKeyMatchesCert, checkP256, type SigningCa } from './issuance.js';

/** A CA ready to sign hand-encoded children. */
export interface DerIssuer {
  /** The CA's P-256 private key, for `crypto.sign`. */
  readonly key: KeyObject;
  /** The CA's subject Name, complete DER TLV. */
  readonly name: Buffer;
  /** The CA's subjectKeyIdentifier (or, lacking one, the RFC 5280 §4.2.1.2 method-1 SHA-1 of its public key). */
  readonly keyId: Buffer;
}

const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';

// Keyed by the certificate object like prepareIssuer; the entry remembers its key so a different key for the same
// certificate object is checked afresh rather than served from the cache.
const prepared = new WeakMap<X509Certificate, DerIssuer>();

/** Checks that `ca.key` is P-256 and belongs to `ca.cert` and reads what children need, once per (cert, key) pair. */
export function prepareDerIssuer(ca: SigningCa, what: string): DerIssuer {
  const hit = prepared.get(ca.cert);
  if (hit !== undefined && hit.key === ca.key) return hit;
  checkKeyMatchesCert(ca.cert, ca.key, what);
  checkP256(ca.key, `${what} key`);
  let fields: { name: Buffer; keyId: Buffer };
  try {
    fields = readIssuerFields(new Uint8Array(ca.cert.raw));
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${what}: cannot read the CA certificate's subject and key identifier`, { cause: err });
  }
  const issuer = Object.freeze({ key: ca.key, ...fields });
  prepared.set(ca.cert, issuer);
  return issuer;
}

/** Subject Name TLV and key identifier of a DER certificate; throws DerError on structure it cannot follow. */
export function readIssuerFields(certDer: Uint8Array): { name: Buffer; keyId: Buffer } {
  const [tbsNode] = children(readOne(certDer, Tag.SEQUENCE));
  if (tbsNode === undefined) throw new DerError('certificate has no tbsCertificate');
  const tbs = children(tbsNode);
  // version [0] is present in every v3 certificate; v1 omits it, shifting the fixed fields by one.
  const base = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const subject = tbs[base + 4];
  const spki = tbs[base + 5];
  if (subject === undefined || spki === undefined) throw new DerError('tbsCertificate is missing its subject or subjectPublicKeyInfo');
  if (subject.tag !== Tag.SEQUENCE || spki.tag !== Tag.SEQUENCE) throw new DerError('subject and subjectPublicKeyInfo must be SEQUENCEs');
  // Copies, so the cached entry does not pin the CA certificate's whole DER buffer.
  const name = Buffer.from(subject.raw);
  const ski = subjectKeyIdentifier(tbs.slice(base + 6));
  if (ski !== undefined) return { name, keyId: Buffer.from(ski) };
  const [, subjectPublicKey] = children(spki);
  if (subjectPublicKey === undefined) throw new DerError('subjectPublicKeyInfo has no subjectPublicKey');
  return { name, keyId: createHash('sha1').update(bitStringBytes(subjectPublicKey)).digest() };
}

/** The keyIdentifier inside a subjectKeyIdentifier extension among the trailing tbsCertificate fields, if any. */
function subjectKeyIdentifier(trailing: readonly DerNode[]): Uint8Array | undefined {
  const wrapper = trailing.find((n) => n.tag === 0xa3); // [3] EXPLICIT Extensions
  if (wrapper === undefined) return undefined;
  const [list] = children(wrapper);
  if (list === undefined) throw new DerError('extensions [3] is empty');
  for (const ext of children(list)) {
    const parts = children(ext);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id === undefined || value === undefined || parts.length < 2) throw new DerError('extension has too few fields');
    if (decodeOid(id) !== OID_SUBJECT_KEY_IDENTIFIER) continue;
    if (value.tag !== Tag.OCTET_STRING) throw new DerError('extnValue must be an OCTET STRING');
    return readOne(value.value, Tag.OCTET_STRING).value;
  }
  return undefined;
}
