/**
 * A simulated ARK listed in the manifest. Only a certificate that marks itself as simulated is accepted here:
 * SECURITY: listing a real AMD ARK under `simulated` would silently trust a second copy of AMD's root with other
 * reference values, so it is refused and must go under `referenceValues.snp`.
 */
import { X509Certificate } from 'node:crypto';
import { readPemBlocks } from '../../attestation/x509/pem.js';
import { SIMULATED_ORGANIZATION } from '../../attestation/simulated/marker.js';

/** Parses the PEM of a simulated ARK; returns the certificate or what was expected instead. */
export function parseSimulatedArk(pem: unknown): { ark?: X509Certificate; expected?: string } {
  const what = 'the PEM of exactly one simulated ARK certificate (and nothing else)';
  if (typeof pem !== 'string') return { expected: what };
  let cert: X509Certificate;
  try {
    const blocks = readPemBlocks(pem);
    // Any other block (a private key pasted along, a second certificate) is refused, not ignored.
    if (blocks.length !== 1 || blocks[0]?.label !== 'CERTIFICATE') return { expected: what };
    cert = new X509Certificate(Buffer.from(blocks[0].der));
  } catch {
    return { expected: what };
  }
  const organizations = cert.subject.split('\n').filter((rdn) => rdn.startsWith('O='));
  if (!organizations.includes(`O=${SIMULATED_ORGANIZATION}`)) {
    return { expected: `a simulated ARK (subject O=${SIMULATED_ORGANIZATION}); real AMD roots belong to referenceValues.snp` };
  }
  if (!cert.ca || !cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    return { expected: 'a self-signed CA certificate (a simulated ARK)' };
  }
  return { ark: cert };
}
