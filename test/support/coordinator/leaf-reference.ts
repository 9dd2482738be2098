/**
 * The @peculiar/x509 implementation of leaf issuance that leaf.ts replaced with a hand-written DER encoder. Kept
 * ONLY as the oracle for leaf-equivalence.test.ts, which checks that both produce the same profile; production code
 * must not import it (it is ~10x slower).
 */
import { x509 } from '../../../lib/pki/x509.js';
import { ECDSA_SHA256, p256Spki, prepareIssuer, randomSerialHex, toIssued, validityWithin, type IssuedCertificate } from '../../../coordinator/pki/issuance.js';
import { buildPolicyHashExtension, parsePolicyHash } from '../../../contract/policy-hash-extension.js';
import { checkSpiffeId } from '../../../contract/spiffe-id.js';
import type { LeafOptions } from '../../../coordinator/pki/leaf.js';
import { parseSubjectAltNames } from '../../../coordinator/pki/subject-alt-names.js';

/** issueLeaf as it was before the DER encoder: same inputs, same checks, same profile. */
export async function issueLeafReference(opts: LeafOptions): Promise<IssuedCertificate> {
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
