/**
 * Fixtures for the issuer tests: real evidence samples with the report data patched to what a test asked for
 * (their signatures then no longer verify — issuers never verify, so that is fine here) and the real AMD
 * certificates, DER.
 */
import { X509Certificate } from 'node:crypto';
import { viewOf } from '../../../lib/bytes.js';
import { readSample } from '../../fixtures.js';
import type { SnpCertificates } from '../../../attestation/issuers/evidence.js';

const SNP_REPORT = readSample('snp/gsg-milan-v2.report.bin');
const TDX_QUOTE_V4 = readSample('tdx/quote-v4-gtg-spr-e4.dat');
/** Offset of REPORTDATA in a v4 quote: body at 0x30 + 0x208 (FORMATS.md §6.3). */
const TDX_V4_REPORT_DATA = 0x238;

/** The sample SNP report with REPORT_DATA (0x50) and, when given, VMPL (0x30) replaced. */
export function snpReportWith(reportData: Uint8Array, vmpl?: number): Uint8Array {
  const r = new Uint8Array(SNP_REPORT);
  r.set(reportData.subarray(0, 64), 0x50);
  if (vmpl !== undefined) viewOf(r).setUint32(0x30, vmpl, true);
  return r;
}

/** The sample v4 TDX quote with REPORTDATA replaced. */
export function tdxQuoteWith(reportData: Uint8Array): Uint8Array {
  const q = new Uint8Array(TDX_QUOTE_V4);
  q.set(reportData.subarray(0, 64), TDX_V4_REPORT_DATA);
  return q;
}

/** The real Milan VCEK, ASK and ARK (DER), as a host would supply them. */
export function milanCertificates(): Required<Pick<SnpCertificates, 'vcek' | 'ask' | 'ark'>> {
  const pem = Buffer.from(readSample('snp/ask_ark_milan.pem')).toString('utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const [ask, ark] = blocks.map((b) => new Uint8Array(new X509Certificate(b).raw));
  if (ask === undefined || ark === undefined) throw new Error('ask_ark_milan.pem: expected two certificates');
  return { vcek: readSample('snp/gsg-milan-v2.vcek.der'), ask, ark };
}

/** 64 bytes 0, 1, 2, … plus `salt`, so tests can tell values apart. */
export function reportDataOf(salt = 0): Uint8Array {
  return Uint8Array.from({ length: 64 }, (_, i) => (i + salt) & 0xff);
}
