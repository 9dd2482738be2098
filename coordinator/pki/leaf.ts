/**
 * Leaf certificates: a pod's mesh identity, issued by the current mesh CA. ECDSA P-256/SHA-256, usable as TLS server
 * and client, SANs from the manifest policy entry plus the SPIFFE URI, and the policy-hash extension.
 *
 * The subject is empty, as the SPIFFE X509-SVID profile allows; identity lives in the SAN, which RFC 5280 §4.2.1.6
 * then requires to be critical.
 */
import type { KeyObject } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import type { Clock } from '../../lib/clock.js';
import { ECDSA_SHA256, p256Spki, prepareIssuer, randomSerialHex, toIssued, validityWithin, type IssuedCertificate, type SigningCa } from './issuance.js';
import { buildPolicyHashExtension, parsePolicyHash } from './policy-hash-extension.js';
import { checkSpiffeId } from './spiffe-id.js';

export { readLeafPolicyHash, CCMESH_POLICY_HASH_OID } from './policy-hash-extension.js';
import { parseSubjectAltNames } from './subject-alt-names.js';

/** Default leaf lifetime (DESIGN §2): 24 hours; the manifest may set another. */
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
  const issuer = await prepareIssuer(opts.meshCa, 'issuing a leaf: mesh CA');

  const names: x509.JsonGeneralName[] = [
    ...sans.map((s): x509.JsonGeneralName => ({ type: s.type === 'ip' ? 'ip' : 'dns', value: s.value })),
    { type: 'url', value: opts.spiffeId },
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    // No subject: an empty Name. SECURITY: peers must authorise on SANs (the SPIFFE URI), never on the subject.
    issuer: issuer.name,
    ...validity,
    publicKey: spki,
    signingKey: issuer.signingKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension(names, true),
      issuer.authorityKeyIdentifier,
      buildPolicyHashExtension(policyHash),
    ],
  });
  return toIssued(cert);
}
