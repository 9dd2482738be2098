/**
 * Leaf certificates: a pod's mesh identity, issued by the current mesh CA. ECDSA P-256/SHA-256, usable as TLS server
 * and client, SANs from the manifest policy entry plus the SPIFFE URI, and the policy-hash extension.
 *
 * The subject is empty, as the SPIFFE X509-SVID profile allows; identity lives in the SAN, which RFC 5280 §4.2.1.6
 * then requires to be critical. The DER is written by leaf-encoder.ts and signed with node:crypto directly; the
 * profile is pinned against the former @peculiar/x509 path by leaf-equivalence.test.ts.
 */
import { sign, type KeyObject } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { prepareDerIssuer } from './der-issuer.js';
import { issuedFromDer, p256Spki, randomSerialBytes, validityWithin, type IssuedCertificate, type SigningCa } from './issuance.js';
import { encodeLeafTbs, encodeSignedCertificate } from './leaf-encoder.js';
import { parsePolicyHash } from '../../contract/policy-hash-extension.js';
import { checkSpiffeId } from '../../contract/spiffe-id.js';
import { parseSubjectAltNames } from './subject-alt-names.js';

export { readLeafPolicyHash, CCMESH_POLICY_HASH_OID } from '../../contract/policy-hash-extension.js';

/** Default leaf lifetime (docs/design.md §2): 24 hours; the manifest may set another. */
export const DEFAULT_LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** Inputs of {@link issueLeaf}. */
export interface LeafOptions {
  /** The pod's P-256 public key: a KeyObject or SPKI DER. */
  readonly publicKey: KeyObject | Uint8Array;
  /** DNS names (wildcards allowed) and IP addresses from the policy entry. */
  readonly sans: readonly string[];
  /** `spiffe://<trustDomain>/<workloadSecretId>` (see spiffeIdFor). */
  readonly spiffeId: string;
  /** 64 hex digits of the policy hash the pod attested to. */
  readonly policyHash: string;
  readonly lifetimeMs: number;
  readonly meshCa: SigningCa;
  readonly clock: Clock;
}

/** Issues a leaf under `meshCa`; its notAfter never passes the mesh CA's. Throws PKI_INPUT_INVALID / PKI_CA_EXPIRED. */
export async function issueLeaf(opts: LeafOptions): Promise<IssuedCertificate> {
  checkSpiffeId(opts.spiffeId);
  const policyHash = parsePolicyHash(opts.policyHash);
  const sans = parseSubjectAltNames(opts.sans);
  const spki = p256Spki(opts.publicKey, 'leaf public key');
  const validity = validityWithin(opts.clock, opts.lifetimeMs, opts.meshCa.cert, 'issuing a leaf');
  const issuer = prepareDerIssuer(opts.meshCa, 'issuing a leaf: mesh CA');

  const tbs = encodeLeafTbs({
    serial: randomSerialBytes(),
    issuerName: issuer.name,
    ...validity,
    spki,
    sans,
    spiffeId: opts.spiffeId,
    authorityKeyId: issuer.keyId,
    policyHash: Buffer.from(policyHash, 'hex'),
  });
  // Synchronous ECDSA on the event loop (~20 us here), far cheaper than the async path it replaced; DER needs no re-wrapping.
  const signature = sign('sha256', tbs, { key: issuer.key, dsaEncoding: 'der' });
  // A fresh Uint8Array: the encoder's small Buffers may share Node's pool, whose .buffer a caller could misread.
  return issuedFromDer(new Uint8Array(encodeSignedCertificate(tbs, signature)));
}
