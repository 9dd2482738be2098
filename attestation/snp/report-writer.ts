/**
 * Writing an ATTESTATION_REPORT: the inverse of report.ts, byte for byte. The simulated TEE signs its reports
 * with this, and tests build reports of versions and products for which no public sample exists. The layout is
 * the firmware's (FORMATS.md §1); the signature covers bytes 0x000–0x29F with R and S stored little-endian.
 */
import { type KeyObject, sign } from 'node:crypto';
import { SNP_REPORT_SIZE, SNP_SIGNED_LENGTH } from './report.js';

/** Fields of a report; anything left out is zero, except REPORT_ID_MA (all ff) and SIGNATURE_ALGO (1). */
export interface SnpReportFields {
  readonly version?: number;
  readonly guestSvn?: number;
  readonly policy?: bigint;
  readonly familyId?: Uint8Array;
  readonly imageId?: Uint8Array;
  readonly vmpl?: number;
  readonly signatureAlgo?: number;
  readonly currentTcb?: bigint;
  readonly platformInfo?: bigint;
  readonly signerInfo?: number;
  readonly reportData?: Uint8Array;
  readonly measurement?: Uint8Array;
  readonly hostData?: Uint8Array;
  readonly idKeyDigest?: Uint8Array;
  readonly authorKeyDigest?: Uint8Array;
  readonly reportId?: Uint8Array;
  readonly reportIdMa?: Uint8Array;
  readonly reportedTcb?: bigint;
  /** CPUID family, model, stepping (v3+). */
  readonly cpuid?: readonly [number, number, number];
  readonly chipId?: Uint8Array;
  readonly committedTcb?: bigint;
  /** Firmware build, minor, major (CURRENT_*); COMMITTED_* take the same unless given. */
  readonly currentVersion?: readonly [number, number, number];
  readonly committedVersion?: readonly [number, number, number];
  readonly launchTcb?: bigint;
  readonly launchMitVector?: bigint;
  readonly currentMitVector?: bigint;
}

function put(b: Uint8Array, offset: number, value: Uint8Array | undefined, size: number): void {
  if (value === undefined) return;
  if (value.length !== size) throw new RangeError(`report field at 0x${offset.toString(16)} takes ${size} bytes, got ${value.length}`);
  b.set(value, offset);
}

/** Lays out an unsigned report (signature fields zero). Throws RangeError for a field of the wrong size. */
export function layoutSnpReport(f: SnpReportFields): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0x000, f.version ?? 2, true);
  dv.setUint32(0x004, f.guestSvn ?? 0, true);
  dv.setBigUint64(0x008, f.policy ?? 0x30000n, true);
  put(b, 0x010, f.familyId, 16);
  put(b, 0x020, f.imageId, 16);
  dv.setUint32(0x030, f.vmpl ?? 0, true);
  dv.setUint32(0x034, f.signatureAlgo ?? 1, true);
  dv.setBigUint64(0x038, f.currentTcb ?? f.reportedTcb ?? 0n, true);
  dv.setBigUint64(0x040, f.platformInfo ?? 0n, true);
  dv.setUint32(0x048, f.signerInfo ?? 0, true);
  put(b, 0x050, f.reportData, 64);
  put(b, 0x090, f.measurement, 48);
  put(b, 0x0c0, f.hostData, 32);
  put(b, 0x0e0, f.idKeyDigest, 48);
  put(b, 0x110, f.authorKeyDigest, 48);
  put(b, 0x140, f.reportId, 32);
  put(b, 0x160, f.reportIdMa ?? new Uint8Array(32).fill(0xff), 32);
  dv.setBigUint64(0x180, f.reportedTcb ?? 0n, true);
  if (f.cpuid) b.set(f.cpuid, 0x188);
  put(b, 0x1a0, f.chipId, 64);
  dv.setBigUint64(0x1e0, f.committedTcb ?? f.reportedTcb ?? 0n, true);
  if (f.currentVersion) b.set(f.currentVersion, 0x1e8);
  const committed = f.committedVersion ?? f.currentVersion;
  if (committed) b.set(committed, 0x1ec);
  dv.setBigUint64(0x1f0, f.launchTcb ?? f.reportedTcb ?? 0n, true);
  if (f.launchMitVector !== undefined) dv.setBigUint64(0x1f8, f.launchMitVector, true);
  if (f.currentMitVector !== undefined) dv.setBigUint64(0x200, f.currentMitVector, true);
  return b;
}

/** Signs bytes 0x000–0x29F of `report` in place with a P-384 key, storing R and S little-endian as the firmware does. */
export function signSnpReport(report: Uint8Array, key: KeyObject): Uint8Array {
  const sig = sign('sha384', report.subarray(0, SNP_SIGNED_LENGTH), { key, dsaEncoding: 'ieee-p1363' });
  if (sig.length !== 96) throw new RangeError(`expected a P-384 signature (96 bytes), got ${sig.length} bytes`);
  report.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), 0x2a0);
  report.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), 0x2e8);
  return report;
}

/** Lays out and, given a key, signs a report. */
export function buildSnpReport(f: SnpReportFields, key?: KeyObject): Uint8Array {
  const b = layoutSnpReport(f);
  return key ? signSnpReport(b, key) : b;
}
