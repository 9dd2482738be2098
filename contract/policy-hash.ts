/**
 * The private certificate extension that carries a leaf's policy hash, so `RenewMeshCert` can re-check a presented
 * leaf against the current manifest without any server-side per-leaf state. This module reads it and needs no X.509
 * library (the sidecar imports it); policy-hash-extension.ts adds the builder the Coordinator's issuer uses.
 *
 * extnValue = DER OCTET STRING of the 32 raw bytes of the hash; the extension is non-critical, because it informs
 * the Coordinator and nobody else has to understand it. The reader runs on certificates presented by peers, i.e. on
 * untrusted bytes, and is bounds-checked through lib/asn1/der.ts: it returns a reading, it never throws on input.
 */
import type { X509Certificate } from 'node:crypto';
import { children, decodeBoolean, decodeOid, DerError, expectNodeTag, readOne, Tag, type DerNode } from '../lib/asn1/der.js';
import type { PolicyHash } from '../lib/brand.js';
import { CcmeshError, ErrorCode } from '../lib/errors.js';

/**
 * OID of the policy-hash extension. 59999 is NOT a PEN assigned to ccmesh: it stands in for one so the arc is
 * defined in exactly one place. TODO(before 1.0): register an IANA Private Enterprise Number and move this under it.
 */
export const CCMESH_POLICY_HASH_OID = '1.3.6.1.4.1.59999.1.1';

/** Bytes in a policy hash (SHA-256). */
export const POLICY_HASH_BYTES = 32;

/** What a certificate says about its policy hash. */
export type PolicyHashReading =
  | { readonly status: 'present'; readonly policyHash: PolicyHash }
  | { readonly status: 'absent' }
  | { readonly status: 'malformed'; readonly reason: string };

/** Lowercases and checks a 64-hex-digit policy hash; throws PKI_INPUT_INVALID otherwise. */
export function parsePolicyHash(hex: string): PolicyHash {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `policy hash ${JSON.stringify(String(hex).slice(0, 80))} is not 64 hex digits`);
  }
  return hex.toLowerCase() as PolicyHash;
}

/** Decodes an extnValue (an OCTET STRING of exactly 32 bytes) to the lowercase hex hash; throws DerError otherwise. */
export function decodePolicyHashValue(extnValue: Uint8Array): PolicyHash {
  const inner = readOne(extnValue, Tag.OCTET_STRING);
  if (inner.value.length !== POLICY_HASH_BYTES) {
    throw new DerError(`policy hash is ${inner.value.length} bytes, expected ${POLICY_HASH_BYTES}`);
  }
  return Buffer.from(inner.value).toString('hex') as PolicyHash;
}

/** Reads the policy-hash extension of a DER certificate; malformed input gives a reason, never an exception. */
export function readPolicyHashExtension(certDer: Uint8Array): PolicyHashReading {
  try {
    const values = extensionValues(certDer, CCMESH_POLICY_HASH_OID);
    if (values.length === 0) return { status: 'absent' };
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (values.length > 1) return { status: 'malformed', reason: 'the policy-hash extension appears more than once' };
    return { status: 'present', policyHash: decodePolicyHashValue(values[0]!) };
  } catch (err) {
    if (err instanceof DerError) return { status: 'malformed', reason: err.message };
    throw err;
  }
}

/** The policy hash of a leaf, or undefined when it has none or a malformed one. */
export function readLeafPolicyHash(cert: X509Certificate): PolicyHash | undefined {
  const reading = readPolicyHashExtension(new Uint8Array(cert.raw));
  return reading.status === 'present' ? reading.policyHash : undefined;
}

/** The extnValue of every extension with `oid` in a DER certificate; throws DerError on malformed structure. */
function extensionValues(certDer: Uint8Array, oid: string): Uint8Array[] {
  const cert = readOne(certDer, Tag.SEQUENCE);
  const tbs = children(cert)[0];
  if (tbs === undefined) throw new DerError('certificate has no tbsCertificate');
  expectNodeTag(tbs, Tag.SEQUENCE);
  const extsWrapper = children(tbs).find((n) => n.tag === 0xa3); // [3] EXPLICIT Extensions
  if (extsWrapper === undefined) return [];
  const wrapped = children(extsWrapper);
  if (wrapped.length !== 1) throw new DerError('extensions [3] must hold exactly one SEQUENCE');
  const list = wrapped[0]!;
  expectNodeTag(list, Tag.SEQUENCE);
  const out: Uint8Array[] = [];
  for (const ext of children(list)) {
    const parts = readExtension(ext);
    if (parts.oid === oid) out.push(parts.value);
  }
  return out;
}

/** Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function readExtension(ext: DerNode): { oid: string; value: Uint8Array } {
  expectNodeTag(ext, Tag.SEQUENCE);
  const parts = children(ext);
  if (parts.length < 2 || parts.length > 3) throw new DerError(`extension has ${parts.length} fields, expected 2 or 3`);
  const oid = decodeOid(parts[0]!);
  if (parts.length === 3) decodeBoolean(parts[1]!);
  const value = parts[parts.length - 1]!;
  expectNodeTag(value, Tag.OCTET_STRING);
  return { oid, value: value.value };
}
