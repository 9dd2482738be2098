/**
 * /dev/tdx_guest (include/uapi/linux/tdx-guest.h, FORMATS.md §5.3). Its one upstream ioctl, TDX_CMD_GET_REPORT0,
 * returns a TDREPORT — which is NOT a quote: it is MAC-protected for the local quoting enclave and a remote
 * verifier can not check it. Upstream Linux produces TDX quotes only through configfs-tsm (provider tdx_guest);
 * a TDX_CMD_GET_QUOTE ioctl was proposed but never merged.
 *
 * So the tdx-guest issuer never returns evidence: it explains the situation and points at configfs-tsm.
 * {@link readTdReport} is exported for diagnostics (reading MRTD, RTMRs, attributes in a TD).
 */
import { bytesEqual, toHex } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { PATHS } from '../../lib/pod-layout.js';
import type { Evidence, EvidenceIssuer } from './evidence.js';
import type { DeviceOpener } from './ioctl.js';
import { describeErrno, iowr, openIoctlDevice, pinnedBuffer } from './ioctl.js';
import { checkReportData } from './report-data.js';
import type { TdReport } from './td-report.js';
import { parseTdReport, TD_REPORT_SIZE } from './td-report.js';

/** TDX_REPORTDATA_LEN. */
export const TDX_REPORTDATA_LEN = 64;
/** sizeof(struct tdx_report_req): reportdata[64] then tdreport[1024]. */
export const TDX_REPORT_REQ_SIZE = TDX_REPORTDATA_LEN + TD_REPORT_SIZE;
/** `_IOWR('T', 1, struct tdx_report_req)` = 0xC4405401. */
export const TDX_CMD_GET_REPORT0 = iowr('T', 1, TDX_REPORT_REQ_SIZE);

/** What provides /dev/tdx_guest, for "device missing" messages. */
export const TDX_GUEST_NEEDS = 'it needs an Intel TDX guest with the tdx-guest driver';

/** Encodes struct tdx_report_req with `reportData` in and a zeroed TDREPORT out-area; pinned for the ioctl. */
export function encodeTdxReportReq(reportData: Uint8Array): Buffer {
  if (reportData.length !== TDX_REPORTDATA_LEN) throw new RangeError(`reportdata must be ${TDX_REPORTDATA_LEN} bytes, got ${reportData.length}`);
  const b = pinnedBuffer(TDX_REPORT_REQ_SIZE);
  b.set(reportData, 0);
  return b;
}

/** Decodes struct tdx_report_req into copies of its two halves. */
export function decodeTdxReportReq(b: Uint8Array): { readonly reportData: Uint8Array; readonly tdReport: Uint8Array } {
  if (b.length !== TDX_REPORT_REQ_SIZE) throw new RangeError(`tdx_report_req must be ${TDX_REPORT_REQ_SIZE} bytes, got ${b.length}`);
  // Plain copies: `b` is usually a Buffer, whose slice() would alias it.
  return { reportData: new Uint8Array(b.subarray(0, TDX_REPORTDATA_LEN)), tdReport: new Uint8Array(b.subarray(TDX_REPORTDATA_LEN)) };
}

/** The error for "this TD only has /dev/tdx_guest": a TD report is not remotely verifiable evidence. */
export function tdReportIsNotAQuote(device: string): CcmeshError {
  return new CcmeshError(
    ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    `${device} only yields a TDREPORT, and a TD report is not a quote: it is MAC-protected for the local quoting enclave and can not be verified remotely. ` +
      `TDX quotes come from configfs-tsm (provider tdx_guest, Linux >= 6.7 with the tsm module, configfs mounted at /sys/kernel/config); use the configfs issuer`,
  );
}

/** Where to find the device, and how to open it (tests pass a fake). */
export interface TdxGuestOptions {
  readonly device?: string;
  readonly openDevice?: DeviceOpener;
}

/** A TDREPORT as read from the device: the raw bytes and their parse. */
export interface TdReportRead {
  readonly bytes: Uint8Array;
  readonly report: TdReport;
}

/** Reads a TDREPORT binding `reportData` through TDX_CMD_GET_REPORT0, for diagnostics; NOT evidence (see module). */
export async function readTdReport(reportData: Uint8Array, opts: TdxGuestOptions = {}): Promise<TdReportRead> {
  const data = checkReportData(reportData, 'tdx-guest');
  const device = opts.device ?? PATHS.tdxGuestDevice;
  const dev = await (opts.openDevice ?? openIoctlDevice)(device, TDX_GUEST_NEEDS);
  try {
    const req = encodeTdxReportReq(data);
    const errno = dev.ioctl(TDX_CMD_GET_REPORT0, req);
    if (errno !== 0) throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `tdx-guest: TDX_CMD_GET_REPORT0 on ${device} failed: ${describeErrno(errno)}`);
    const { tdReport } = decodeTdxReportReq(req);
    const report = parseTdReport(tdReport);
    if (!bytesEqual(report.reportData, data)) {
      throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `tdx-guest: the TDREPORT carries REPORTDATA ${toHex(report.reportData)}, not the requested ${toHex(data)}`);
    }
    return { bytes: tdReport, report };
  } finally {
    await dev.close();
  }
}

/**
 * The issuer for /dev/tdx_guest: when the device is missing it says so (ATTEST_ISSUER_UNAVAILABLE naming the
 * path); when it is present it still fails, explaining that a TD report is not a quote.
 */
export class TdxGuestIssuer implements EvidenceIssuer {
  readonly name = 'tdx-guest';
  readonly #device: string;
  readonly #open: DeviceOpener;

  constructor(opts: TdxGuestOptions = {}) {
    this.#device = opts.device ?? PATHS.tdxGuestDevice;
    this.#open = opts.openDevice ?? openIoctlDevice;
  }

  async issue(reportData: Uint8Array, signal?: AbortSignal): Promise<Evidence> {
    checkReportData(reportData, this.name);
    signal?.throwIfAborted();
    const dev = await this.#open(this.#device, TDX_GUEST_NEEDS);
    await dev.close();
    throw tdReportIsNotAQuote(this.#device);
  }
}
