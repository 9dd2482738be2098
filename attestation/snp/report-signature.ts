/**
 * The report signature (FORMATS.md §1.2): ECDSA P-384 with SHA-384 over bytes 0x000–0x29F. The parser already
 * turned R and S into 48-byte big-endian scalars, so here they are laid side by side as IEEE P1363 `r || s`,
 * which Node verifies without a DER round trip.
 */
import { type KeyObject, verify } from 'node:crypto';
import type { SnpReport } from './report.js';

/** True when the report's signature verifies with `key` (the VEK's P-384 public key); never throws. */
export function verifyReportSignature(report: SnpReport, key: KeyObject): boolean {
  const sig = new Uint8Array(96);
  sig.set(report.signatureR, 0);
  sig.set(report.signatureS, 48);
  try {
    return verify('sha384', report.signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    // A key of the wrong type is "does not verify"; parseVek already refuses anything but P-384.
    return false;
  }
}
