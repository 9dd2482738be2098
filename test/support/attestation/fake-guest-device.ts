/**
 * Test doubles for the guest devices: an {@link IoctlDevice} that plays /dev/sev-guest (and a minimal
 * /dev/tdx_guest) the way the kernel and firmware do, without hardware or FFI.
 *
 * Real ioctl structs carry raw user addresses. Here {@link IoctlDevice.addressOf} hands out synthetic addresses
 * and remembers which buffer each one names, so the fake can "dereference" req_data, resp_data and certs_address
 * exactly as the kernel would — and a pointer that was never handed out is EFAULT, as it would be.
 */
import { viewOf } from '../../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import type { DeviceOpener, IoctlDevice } from '../../../attestation/issuers/ioctl.js';
import { deviceUnavailable } from '../../../attestation/issuers/ioctl.js';
import {
  decodeExtReportReq,
  decodeGuestRequestIoctl,
  decodeReportReq,
  encodeReportResp,
  SNP_EXT_REPORT_REQ_SIZE,
  SNP_GET_EXT_REPORT,
  SNP_GET_REPORT,
  SNP_GUEST_VMM_ERR_INVALID_LEN,
  SNP_REPORT_REQ_SIZE,
  SNP_REPORT_RESP_SIZE,
} from '../../../attestation/issuers/sev-guest-structs.js';
import { TDX_CMD_GET_REPORT0, TDX_REPORT_REQ_SIZE } from '../../../attestation/issuers/tdx-guest.js';

const EIO = 5;
const EFAULT = 14;
const EINVAL = 22;
const ENOTTY = 25;
const PAGE = 4096;

/** Options of {@link FakeSevGuestDevice}. */
export interface FakeSevGuestOptions {
  /** The report the firmware produces for user data and VMPL. */
  readonly report: (userData: Uint8Array, vmpl: number) => Uint8Array;
  /** Certificate table the host supplies on SNP_GET_EXT_REPORT (none when absent). */
  readonly certs?: Uint8Array;
  /** Force a failure: what ioctl returns and the firmware/VMM errors written to exitinfo2. */
  readonly fail?: { readonly errno: number; readonly fwError?: number; readonly vmmError?: number };
  /** MSG_REPORT_RSP status (default 0). */
  readonly respStatus?: number;
  /** Length written back on INVALID_LEN; default: the table size rounded up to a page. */
  readonly neededCertsLen?: (had: number) => number;
}

/** One ioctl the fake saw. */
export interface FakeIoctlCall {
  readonly request: number;
  readonly vmpl?: number;
  readonly certsLen?: number;
}

/** Hands out synthetic addresses and resolves them back (see module comment). */
class AddressBook {
  #next = 0x7f0000001000n;
  readonly #byBuffer = new Map<Uint8Array, bigint>();
  readonly #byAddress = new Map<bigint, Uint8Array>();

  addressOf(buf: Uint8Array): bigint {
    let a = this.#byBuffer.get(buf);
    if (a === undefined) {
      a = this.#next;
      this.#next += 0x100000n;
      this.#byBuffer.set(buf, a);
      this.#byAddress.set(a, buf);
    }
    return a;
  }

  resolve(address: bigint, size: number): Uint8Array | undefined {
    const b = this.#byAddress.get(address);
    return b !== undefined && b.length >= size ? b : undefined;
  }
}

/** A fake /dev/sev-guest following the kernel's SNP_GET_REPORT / SNP_GET_EXT_REPORT behaviour. */
export class FakeSevGuestDevice implements IoctlDevice {
  readonly path: string;
  readonly calls: FakeIoctlCall[] = [];
  closed = false;
  readonly #opts: FakeSevGuestOptions;
  readonly #book = new AddressBook();

  constructor(path: string, opts: FakeSevGuestOptions) {
    this.path = path;
    this.#opts = opts;
  }

  addressOf(buf: Uint8Array): bigint {
    return this.#book.addressOf(buf);
  }

  /** Called by {@link fakeDeviceOpener} on every open: one object stands for the device node. */
  reopen(): void {
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  ioctl(request: number, arg: Uint8Array): number {
    if (this.closed) throw new Error('ioctl on a closed fake device');
    if (request !== SNP_GET_REPORT && request !== SNP_GET_EXT_REPORT) return ENOTTY;
    const io = decodeGuestRequestIoctl(arg);
    const setExitinfo2 = (fw: number, vmm: number): void => viewOf(arg).setBigUint64(24, (BigInt(vmm) << 32n) | BigInt(fw), true);
    if (io.msgVersion === 0) return EINVAL;
    const ext = request === SNP_GET_EXT_REPORT;
    const req = this.#book.resolve(io.reqData, ext ? SNP_EXT_REPORT_REQ_SIZE : SNP_REPORT_REQ_SIZE);
    const resp = this.#book.resolve(io.respData, SNP_REPORT_RESP_SIZE);
    if (req === undefined || resp === undefined) return EFAULT;
    const { userData, vmpl } = decodeReportReq(req.subarray(0, SNP_REPORT_REQ_SIZE));
    if (!ext) {
      this.calls.push({ request, vmpl });
    } else {
      const { certsAddress, certsLen } = decodeExtReportReq(req.subarray(0, SNP_EXT_REPORT_REQ_SIZE));
      this.calls.push({ request, vmpl, certsLen });
      // The kernel's own checks before talking to the host.
      if (certsLen % PAGE !== 0 || certsLen > 4 * PAGE) return EINVAL;
      const table = this.#opts.certs ?? new Uint8Array(0);
      if (table.length > certsLen) {
        const needed = this.#opts.neededCertsLen?.(certsLen) ?? Math.ceil(table.length / PAGE) * PAGE;
        viewOf(req).setUint32(104, needed, true);
        setExitinfo2(0, SNP_GUEST_VMM_ERR_INVALID_LEN);
        return EIO;
      }
      const certs = certsLen === 0 ? undefined : this.#book.resolve(certsAddress, certsLen);
      if (certsLen !== 0 && certs === undefined) return EFAULT;
      certs?.set(table);
    }
    if (this.#opts.fail) {
      setExitinfo2(this.#opts.fail.fwError ?? 0, this.#opts.fail.vmmError ?? 0);
      return this.#opts.fail.errno;
    }
    resp.set(encodeReportResp({ status: this.#opts.respStatus ?? 0, report: this.#opts.report(userData, vmpl) }));
    setExitinfo2(0, 0);
    return 0;
  }
}

/** A fake device node: opening it again after close() reopens the same object. */
export type FakeDevice = IoctlDevice & { reopen(): void };

/** A device opener over fixed fakes; any other path fails like a missing device node (ENOENT). */
export function fakeDeviceOpener(devices: Record<string, FakeDevice>): DeviceOpener & { opened: string[] } {
  const opened: string[] = [];
  const open = async (path: string, needs = 'a fake device'): Promise<IoctlDevice> => {
    const dev = devices[path];
    if (dev === undefined) throw deviceUnavailable(path, Object.assign(new Error(`ENOENT: open '${path}'`), { code: 'ENOENT' }), needs);
    opened.push(path);
    dev.reopen();
    return dev;
  };
  return Object.assign(open, { opened });
}

/** A fake /dev/tdx_guest: TDX_CMD_GET_REPORT0 fills the TDREPORT half of tdx_report_req through `fill`. */
export class FakeTdxGuestDevice implements IoctlDevice {
  readonly path: string;
  closed = false;
  readonly #fill: (reportData: Uint8Array) => Uint8Array;

  constructor(path: string, fill: (reportData: Uint8Array) => Uint8Array) {
    this.path = path;
    this.#fill = fill;
  }

  addressOf(): bigint {
    throw new CcmeshError(ErrorCode.INTERNAL, 'tdx_report_req carries no pointers');
  }

  /** Called by {@link fakeDeviceOpener} on every open. */
  reopen(): void {
    this.closed = false;
  }

  ioctl(request: number, arg: Uint8Array): number {
    if (this.closed) throw new Error('ioctl on a closed fake device');
    if (request !== TDX_CMD_GET_REPORT0) return ENOTTY;
    if (arg.length !== TDX_REPORT_REQ_SIZE) return EFAULT;
    arg.set(this.#fill(new Uint8Array(arg.subarray(0, 64))), 64);
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
