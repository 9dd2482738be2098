/**
 * SNP evidence through the legacy /dev/sev-guest ioctls, for kernels without configfs-tsm (< 6.7).
 *
 * SNP_GET_EXT_REPORT (the default) also returns the host's certificate table (VCEK/VLEK, ASK, ARK). The kernel
 * wants a page-multiple certs buffer; when ours is too small the VMM answers INVALID_LEN and the kernel writes the
 * needed length back into `certs_len`, so we grow the buffer to exactly that and retry once. SNP_GET_REPORT
 * (`extended: false`) returns the report alone.
 */
import { toHex } from '../../lib/bytes.js';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { silentLogger } from '../../lib/log.js';
import { PATHS } from '../../lib/pod-layout.js';
import { parseCertTable } from './cert-table.js';
import type { Evidence, EvidenceIssuer, SnpCertificates } from './evidence.js';
import { snpEvidence } from './evidence-check.js';
import type { DeviceOpener, IoctlDevice } from './ioctl.js';
import { describeErrno, openIoctlDevice, pinnedBuffer } from './ioctl.js';
import { checkReportData } from './report-data.js';
import {
  decodeExtReportReq,
  decodeGuestRequestIoctl,
  decodeReportResp,
  encodeExtReportReq,
  encodeGuestRequestIoctl,
  encodeReportReq,
  SNP_GET_EXT_REPORT,
  SNP_GET_REPORT,
  SNP_GUEST_VMM_ERR_INVALID_LEN,
  SNP_REPORT_RESP_SIZE,
} from './sev-guest-structs.js';

/** The guest page size certs buffers are counted in. */
export const SEV_GUEST_PAGE_SIZE = 4096;
/** Initial certs buffer: a VCEK + ASK + ARK table is about 5 KiB. */
export const DEFAULT_CERTS_BUFFER_SIZE = 2 * SEV_GUEST_PAGE_SIZE;
/** Largest certs buffer we allocate on the host's say-so (the kernel itself stops at 16 KiB). */
export const MAX_CERTS_BUFFER_SIZE = 16 * SEV_GUEST_PAGE_SIZE;

/** Plain settings of the sev-guest issuer. */
export interface SevGuestIssuerConfig {
  /** Device path; default {@link PATHS.sevGuestDevice}. */
  readonly device?: string;
  /** VMPL the report is requested for (0–3); default 0. Under an SVSM the guest kernel runs above 0. */
  readonly vmpl?: number;
  /** Use SNP_GET_EXT_REPORT to also get the host's certificates; default true. */
  readonly extended?: boolean;
  /** Initial certs buffer size, a multiple of 4096; default {@link DEFAULT_CERTS_BUFFER_SIZE}. */
  readonly certsBufferSize?: number;
}

/** Live dependencies of the sev-guest issuer. */
export interface SevGuestIssuerRuntime {
  readonly openDevice?: DeviceOpener;
  readonly logger?: Logger;
}

/** What provides /dev/sev-guest, for "device missing" messages. */
export const SEV_GUEST_NEEDS = 'it needs an SEV-SNP guest with the sev-guest driver; on Linux >= 6.7 prefer configfs-tsm';

const FW_ERRORS: Readonly<Record<number, string>> = { 0x16: 'INVALID_PARAM', 0x17: 'RESOURCE_LIMIT', 0xffffffff: 'no firmware call was made' };
const VMM_ERRORS: Readonly<Record<number, string>> = { 1: 'INVALID_LEN', 2: 'BUSY' };

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** "firmware error 0x00000016 (INVALID_PARAM), VMM error 0x00000000" */
export function describeSnpGuestErrors(fwError: number, vmmError: number): string {
  const name = (table: Readonly<Record<number, string>>, n: number): string => (table[n] === undefined ? '' : ` (${table[n]})`);
  return `firmware error ${hex32(fwError)}${name(FW_ERRORS, fwError)}, VMM error ${hex32(vmmError)}${name(VMM_ERRORS, vmmError)}`;
}

function isPageMultiple(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n % SEV_GUEST_PAGE_SIZE === 0;
}

/** One guest request's outcome: errno from ioctl(2) plus the firmware/VMM errors the kernel wrote back. */
interface GuestRequestOutcome {
  readonly errno: number;
  readonly fwError: number;
  readonly vmmError: number;
}

/** Issues SNP evidence through /dev/sev-guest. */
export class SevGuestIssuer implements EvidenceIssuer {
  readonly name = 'sev-guest';
  readonly #device: string;
  readonly #vmpl: number;
  readonly #extended: boolean;
  readonly #certsBufferSize: number;
  readonly #open: DeviceOpener;
  readonly #logger: Logger;

  constructor(config: SevGuestIssuerConfig = {}, runtime: SevGuestIssuerRuntime = {}) {
    const { vmpl = 0, certsBufferSize = DEFAULT_CERTS_BUFFER_SIZE } = config;
    if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) throw new CcmeshError(ErrorCode.CONFIG_INVALID, `sev-guest: vmpl must be an integer 0-3, got ${vmpl}`);
    if (!isPageMultiple(certsBufferSize) || certsBufferSize > MAX_CERTS_BUFFER_SIZE) {
      throw new CcmeshError(ErrorCode.CONFIG_INVALID, `sev-guest: certsBufferSize must be a multiple of ${SEV_GUEST_PAGE_SIZE} up to ${MAX_CERTS_BUFFER_SIZE}, got ${certsBufferSize}`);
    }
    this.#device = config.device ?? PATHS.sevGuestDevice;
    this.#vmpl = vmpl;
    this.#extended = config.extended ?? true;
    this.#certsBufferSize = certsBufferSize;
    this.#open = runtime.openDevice ?? openIoctlDevice;
    this.#logger = runtime.logger ?? silentLogger;
  }

  async issue(reportData: Uint8Array, signal?: AbortSignal): Promise<Evidence> {
    const userData = checkReportData(reportData, this.name);
    signal?.throwIfAborted();
    const dev = await this.#open(this.#device, SEV_GUEST_NEEDS);
    try {
      const { report, certificates } = this.#extended ? this.#extendedReport(dev, userData) : { report: this.#report(dev, userData), certificates: {} };
      return snpEvidence({ source: this.name, reportData: userData, vmpl: this.#vmpl }, report, certificates);
    } finally {
      await dev.close();
    }
  }

  /**
   * One SNP guest request. `req` and `resp` are referenced by address from the ioctl struct, so both stay in scope
   * (and pinned) until ioctl returns.
   */
  #request(dev: IoctlDevice, request: number, req: Buffer, resp: Buffer): GuestRequestOutcome {
    const arg = encodeGuestRequestIoctl({ msgVersion: 1, reqData: dev.addressOf(req), respData: dev.addressOf(resp), exitinfo2: 0n });
    const errno = dev.ioctl(request, arg);
    const { fwError, vmmError } = decodeGuestRequestIoctl(arg);
    return { errno, fwError, vmmError };
  }

  #failed(what: string, o: GuestRequestOutcome): CcmeshError {
    const how = o.errno === 0 ? 'the call returned success' : describeErrno(o.errno);
    return new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `sev-guest: ${what} on ${this.#device} failed: ${how}; ${describeSnpGuestErrors(o.fwError, o.vmmError)}`);
  }

  #report(dev: IoctlDevice, userData: Uint8Array): Uint8Array {
    const req = encodeReportReq({ userData, vmpl: this.#vmpl });
    const resp = pinnedBuffer(SNP_REPORT_RESP_SIZE);
    const o = this.#request(dev, SNP_GET_REPORT, req, resp);
    if (o.errno !== 0 || o.fwError !== 0 || o.vmmError !== 0) throw this.#failed('SNP_GET_REPORT', o);
    return decodeReportResp(resp).report;
  }

  #extendedReport(dev: IoctlDevice, userData: Uint8Array): { report: Uint8Array; certificates: SnpCertificates } {
    let certs = pinnedBuffer(this.#certsBufferSize);
    for (let attempt = 1; ; attempt++) {
      const req = encodeExtReportReq({ userData, vmpl: this.#vmpl, certsAddress: dev.addressOf(certs), certsLen: certs.length });
      const resp = pinnedBuffer(SNP_REPORT_RESP_SIZE);
      const o = this.#request(dev, SNP_GET_EXT_REPORT, req, resp);
      if (o.vmmError === SNP_GUEST_VMM_ERR_INVALID_LEN && attempt === 1) {
        const needed = decodeExtReportReq(req).certsLen;
        if (!isPageMultiple(needed) || needed <= certs.length || needed > MAX_CERTS_BUFFER_SIZE) {
          throw new CcmeshError(
            ErrorCode.ATTEST_ISSUER_FAILED,
            `sev-guest: the host asked for a ${needed}-byte certificate buffer after a ${certs.length}-byte one was too small; expected a larger multiple of ${SEV_GUEST_PAGE_SIZE} up to ${MAX_CERTS_BUFFER_SIZE}`,
          );
        }
        this.#logger.debug('sev-guest certificate buffer too small; retrying with the length the host asked for', { had: certs.length, needed });
        certs = pinnedBuffer(needed);
        continue;
      }
      if (o.errno !== 0 || o.fwError !== 0 || o.vmmError !== 0) throw this.#failed('SNP_GET_EXT_REPORT', o);
      const { report } = decodeReportResp(resp);
      try {
        return { report, certificates: parseCertTable(certs) };
      } catch (err) {
        throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `sev-guest: the host's certificate table is malformed: ${describeError(err)} (first bytes ${toHex(certs.subarray(0, 24))})`, { cause: err });
      }
    }
  }
}
