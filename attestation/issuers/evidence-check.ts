/**
 * Sanity checks on what a platform handed back, before an issuer returns it: the bytes must parse as the evidence
 * format the provider claims, and must carry exactly the report data we asked for. This is not verification (no
 * signatures, no TCB): it catches a wrong provider, a truncated read or a request that raced another writer
 * here, with a clear message, instead of as a confusing rejection on the relying party's side.
 */
import { bytesEqual, toHex } from '../../lib/bytes.js';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import { parseSnpReport } from '../snp/report.js';
import { parseTdxQuote } from '../tdx/quote.js';
import type { Evidence, SnpCertificates } from './evidence.js';

/** What the issuer asked for, to check the platform's answer against. */
export interface EvidenceRequest {
  /** Issuer name for messages ("configfs-tsm", "sev-guest"). */
  readonly source: string;
  readonly reportData: Uint8Array;
  /** SNP only: the VMPL the report must state, when one was requested. */
  readonly vmpl?: number;
}

function failed(message: string, cause?: unknown): CcmeshError {
  return new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, message, cause === undefined ? undefined : { cause });
}

/** Checks an SNP report and wraps it as Evidence; throws ATTEST_ISSUER_FAILED when it is not what was asked for. */
export function snpEvidence(req: EvidenceRequest, report: Uint8Array, certificates: SnpCertificates): Evidence {
  let parsed;
  try {
    parsed = parseSnpReport(report);
  } catch (err) {
    throw failed(`${req.source}: the platform returned ${report.length} bytes that are not an SNP attestation report: ${describeError(err)}`, err);
  }
  if (!bytesEqual(parsed.reportData, req.reportData)) {
    throw failed(`${req.source}: the SNP report carries REPORT_DATA ${toHex(parsed.reportData)}, not the requested ${toHex(req.reportData)}`);
  }
  if (req.vmpl !== undefined && parsed.vmpl !== req.vmpl) {
    throw failed(`${req.source}: the SNP report is for VMPL ${parsed.vmpl}, not the requested ${req.vmpl}`);
  }
  return { format: 'snp', report: new Uint8Array(report), certificates, source: req.source };
}

/** Checks a TDX quote and wraps it as Evidence; throws ATTEST_ISSUER_FAILED when it is not what was asked for. */
export function tdxEvidence(req: EvidenceRequest, quote: Uint8Array): Evidence {
  let parsed;
  try {
    parsed = parseTdxQuote(quote);
  } catch (err) {
    throw failed(`${req.source}: the platform returned ${quote.length} bytes that are not a TDX quote: ${describeError(err)}`, err);
  }
  if (!bytesEqual(parsed.body.reportData, req.reportData)) {
    throw failed(`${req.source}: the TDX quote carries REPORTDATA ${toHex(parsed.body.reportData)}, not the requested ${toHex(req.reportData)}`);
  }
  return { format: 'tdx', quote: new Uint8Array(quote), source: req.source };
}
