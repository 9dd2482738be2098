/**
 * Issued {@link Evidence} → the `Evidence` message the Coordinator's mesh API takes (NewMeshCert, and RenewMeshCert
 * when fresh evidence is required): SNP carries its VEK (DER) and ASK+ARK (PEM), TDX its quote.
 */
import { X509Certificate } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { evidenceMessage, type EvidenceMessage, type WireEvidence } from '../../lib/protocol/messages.js';
import type { Evidence } from './evidence.js';

/** Converts issued evidence for the wire; SNP evidence without VCEK/VLEK, ASK and ARK is ATTEST_ISSUER_FAILED. */
export function toWireEvidence(ev: Evidence): EvidenceMessage {
  return evidenceMessage(toCheckedEvidence(ev));
}

/** The same evidence in the form the Coordinator's check takes (what the `Evidence` message decodes to). */
export function toCheckedEvidence(ev: Evidence): WireEvidence {
  if (ev.format === 'tdx') return { format: 'tdx', quote: ev.quote };
  const c = ev.certificates;
  const vek = c.vcek ?? c.vlek;
  if (!vek || !c.ask || !c.ark) {
    throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `the ${ev.source} issuer supplied no VCEK/ASK/ARK with the report; collateral fetching is not configured`);
  }
  const pem = (der: Uint8Array): string => new X509Certificate(Buffer.from(der)).toString();
  return { format: 'snp', report: ev.report, vek, chain: new Uint8Array(Buffer.from(pem(c.ask) + pem(c.ark))) };
}
