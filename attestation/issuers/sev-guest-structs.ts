/**
 * The /dev/sev-guest ioctl ABI (include/uapi/linux/sev-guest.h, FORMATS.md §1.3 and §5.2) as byte layouts:
 * encoders for what we send and decoders for what the kernel writes back. x86-64 layout, little-endian, with the
 * compiler's padding spelled out. Pure functions, so the layouts are tested without a device.
 */
import { viewOf } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { REPORT_DATA_LENGTH } from './evidence.js';
import { iowr, pinnedBuffer } from './ioctl.js';

/** sizeof(struct snp_guest_request_ioctl). */
export const SNP_GUEST_REQUEST_IOCTL_SIZE = 32;
/** sizeof(struct snp_report_req). */
export const SNP_REPORT_REQ_SIZE = 96;
/** sizeof(struct snp_ext_report_req). */
export const SNP_EXT_REPORT_REQ_SIZE = 112;
/** sizeof(struct snp_report_resp). */
export const SNP_REPORT_RESP_SIZE = 4000;
/** Offset of the report inside MSG_REPORT_RSP. */
export const MSG_REPORT_RSP_REPORT_OFFSET = 0x20;

/** `_IOWR('S', 0x0, struct snp_guest_request_ioctl)` = 0xC0205300. */
export const SNP_GET_REPORT = iowr('S', 0x0, SNP_GUEST_REQUEST_IOCTL_SIZE);
/** `_IOWR('S', 0x2, struct snp_guest_request_ioctl)` = 0xC0205302. */
export const SNP_GET_EXT_REPORT = iowr('S', 0x2, SNP_GUEST_REQUEST_IOCTL_SIZE);

/** VMM error (exitinfo2 bits 63:32): the certificate buffer is too small; the needed length was written back. */
export const SNP_GUEST_VMM_ERR_INVALID_LEN = 1;
/** VMM error: the host is busy (the kernel normally retries this itself). */
export const SNP_GUEST_VMM_ERR_BUSY = 2;

/** struct snp_guest_request_ioctl. */
export interface SnpGuestRequestIoctl {
  /** Must be non-zero; 1 is the only version. */
  readonly msgVersion: number;
  /** User address of the request struct. */
  readonly reqData: bigint;
  /** User address of the response struct. */
  readonly respData: bigint;
  /** Written by the kernel: firmware error in bits 31:0, VMM error in bits 63:32. */
  readonly exitinfo2: bigint;
}

/** exitinfo2 split into its two halves. */
export interface SnpGuestErrors {
  readonly fwError: number;
  readonly vmmError: number;
}

/** struct snp_report_req (and the first 96 bytes of snp_ext_report_req). */
export interface SnpReportReq {
  /** 64 bytes that become REPORT_DATA. */
  readonly userData: Uint8Array;
  readonly vmpl: number;
}

/** struct snp_ext_report_req. */
export interface SnpExtReportReq extends SnpReportReq {
  /** User address of the certificate buffer (0 for none). */
  readonly certsAddress: bigint;
  /** Its length: a multiple of the 4 KiB page size; on INVALID_LEN the kernel writes the needed length here. */
  readonly certsLen: number;
}

/** MSG_REPORT_RSP inside snp_report_resp. */
export interface MsgReportRsp {
  /** 0 on success; otherwise an SNP firmware status (0x16 INVALID_PARAMETERS, 0x27 INVALID_KEY_SELECTION). */
  readonly status: number;
  readonly reportSize: number;
  /** A copy of the report bytes (REPORT_SIZE of them). */
  readonly report: Uint8Array;
}

function malformed(message: string): CcmeshError {
  return new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `sev-guest: ${message}`);
}

function checkSize(b: Uint8Array, size: number, what: string): void {
  if (b.length !== size) throw new RangeError(`${what} must be ${size} bytes, got ${b.length}`);
}

function checkVmpl(vmpl: number): void {
  if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) throw new RangeError(`vmpl must be 0-3, got ${vmpl}`);
}

/** Encodes snp_guest_request_ioctl into a fresh pinned buffer (the ioctl argument itself). */
export function encodeGuestRequestIoctl(v: SnpGuestRequestIoctl): Buffer {
  const b = pinnedBuffer(SNP_GUEST_REQUEST_IOCTL_SIZE);
  const dv = viewOf(b);
  dv.setUint8(0, v.msgVersion);
  // Bytes 1–7: padding before the first u64.
  dv.setBigUint64(8, v.reqData, true);
  dv.setBigUint64(16, v.respData, true);
  dv.setBigUint64(24, v.exitinfo2, true);
  return b;
}

/** Decodes snp_guest_request_ioctl as the kernel left it. */
export function decodeGuestRequestIoctl(b: Uint8Array): SnpGuestRequestIoctl & SnpGuestErrors {
  checkSize(b, SNP_GUEST_REQUEST_IOCTL_SIZE, 'snp_guest_request_ioctl');
  const dv = viewOf(b);
  return {
    msgVersion: dv.getUint8(0),
    reqData: dv.getBigUint64(8, true),
    respData: dv.getBigUint64(16, true),
    exitinfo2: dv.getBigUint64(24, true),
    fwError: dv.getUint32(24, true),
    vmmError: dv.getUint32(28, true),
  };
}

function writeReportReq(b: Buffer, v: SnpReportReq): void {
  checkSize(v.userData, REPORT_DATA_LENGTH, 'user_data');
  checkVmpl(v.vmpl);
  b.set(v.userData, 0);
  viewOf(b).setUint32(64, v.vmpl, true);
  // rsvd[28] at 68 stays zero: the firmware rejects non-zero reserved bytes.
}

/** Encodes snp_report_req (96 bytes) into a fresh pinned buffer. */
export function encodeReportReq(v: SnpReportReq): Buffer {
  const b = pinnedBuffer(SNP_REPORT_REQ_SIZE);
  writeReportReq(b, v);
  return b;
}

/** Decodes snp_report_req. */
export function decodeReportReq(b: Uint8Array): SnpReportReq {
  if (b.length !== SNP_REPORT_REQ_SIZE && b.length !== SNP_EXT_REPORT_REQ_SIZE) throw new RangeError(`snp_report_req must be ${SNP_REPORT_REQ_SIZE} bytes, got ${b.length}`);
  return { userData: new Uint8Array(b.subarray(0, 64)), vmpl: viewOf(b).getUint32(64, true) };
}

/** Encodes snp_ext_report_req (112 bytes) into a fresh pinned buffer. */
export function encodeExtReportReq(v: SnpExtReportReq): Buffer {
  const b = pinnedBuffer(SNP_EXT_REPORT_REQ_SIZE);
  writeReportReq(b, v);
  const dv = viewOf(b);
  dv.setBigUint64(96, v.certsAddress, true);
  dv.setUint32(104, v.certsLen, true);
  // Bytes 108–111: tail padding to the struct's 8-byte alignment.
  return b;
}

/** Decodes snp_ext_report_req, e.g. to read back the certs_len the kernel wrote on INVALID_LEN. */
export function decodeExtReportReq(b: Uint8Array): SnpExtReportReq {
  checkSize(b, SNP_EXT_REPORT_REQ_SIZE, 'snp_ext_report_req');
  const dv = viewOf(b);
  return { ...decodeReportReq(b.subarray(0, SNP_REPORT_REQ_SIZE)), certsAddress: dv.getBigUint64(96, true), certsLen: dv.getUint32(104, true) };
}

/** Encodes snp_report_resp holding MSG_REPORT_RSP (for fakes and tests: the kernel writes this). */
export function encodeReportResp(v: { readonly status: number; readonly report: Uint8Array; readonly reportSize?: number }): Buffer {
  const b = pinnedBuffer(SNP_REPORT_RESP_SIZE);
  const dv = viewOf(b);
  dv.setUint32(0, v.status, true);
  dv.setUint32(4, v.reportSize ?? v.report.length, true);
  b.set(v.report.subarray(0, SNP_REPORT_RESP_SIZE - MSG_REPORT_RSP_REPORT_OFFSET), MSG_REPORT_RSP_REPORT_OFFSET);
  return b;
}

/**
 * Decodes MSG_REPORT_RSP from snp_report_resp. Throws ATTEST_ISSUER_FAILED for a non-zero status or a REPORT_SIZE
 * that does not fit the 4000-byte response, so a bad length never reads past the buffer.
 */
export function decodeReportResp(b: Uint8Array): MsgReportRsp {
  checkSize(b, SNP_REPORT_RESP_SIZE, 'snp_report_resp');
  const dv = viewOf(b);
  const status = dv.getUint32(0, true);
  const reportSize = dv.getUint32(4, true);
  if (status !== 0) throw malformed(`the firmware answered MSG_REPORT_REQ with status 0x${status.toString(16)}`);
  if (reportSize === 0 || reportSize > SNP_REPORT_RESP_SIZE - MSG_REPORT_RSP_REPORT_OFFSET) {
    throw malformed(`MSG_REPORT_RSP claims a ${reportSize}-byte report, which does not fit the ${SNP_REPORT_RESP_SIZE}-byte response`);
  }
  return { status, reportSize, report: new Uint8Array(b.subarray(MSG_REPORT_RSP_REPORT_OFFSET, MSG_REPORT_RSP_REPORT_OFFSET + reportSize)) };
}
