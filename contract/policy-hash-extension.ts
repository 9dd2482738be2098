/**
 * The private certificate extension that carries a leaf's policy hash, so `RenewMeshCert` can re-check a presented
 * leaf against the current manifest without any server-side per-leaf state.
 *
 * extnValue = DER OCTET STRING of the 32 raw bytes of the hash; the extension is non-critical, because it informs
 * the Coordinator and nobody else has to understand it. This module builds it (through the X.509 library); the
 * reader and the constants live in policy-hash.ts, re-exported here, so that the sidecar reads leaves without loading
 * the X.509 library.
 */
import { x509 } from '../lib/pki/x509.js';
import { parsePolicyHash, POLICY_HASH_BYTES, CCMESH_POLICY_HASH_OID } from './policy-hash.js';
import { Tag } from '../lib/asn1/der.js';
import type { PolicyHash } from '../lib/brand.js';

export * from './policy-hash.js';

/** The non-critical extension carrying `policyHash`. */
export function buildPolicyHashExtension(policyHash: PolicyHash): x509.Extension {
  const raw = Buffer.from(parsePolicyHash(policyHash), 'hex');
  return new x509.Extension(CCMESH_POLICY_HASH_OID, false, Buffer.concat([Buffer.of(Tag.OCTET_STRING, POLICY_HASH_BYTES), raw]));
}
