/**
 * ioctl(2) on guest devices through koffi (an FFI, so no native addon to build). Node opens the device (so the fd
 * is a normal FileHandle closed by Node); koffi calls libc `ioctl(fd, request, void *arg)` with a Buffer as the
 * pointer argument — koffi passes a TypedArray's own memory, no copy — and reads errno right after the call.
 *
 * koffi is loaded lazily, on the first device that actually opened: a machine without /dev/sev-guest or
 * /dev/tdx_guest never loads the FFI at all.
 *
 * Some ioctl structs carry user pointers to other buffers (snp_guest_request_ioctl.req_data). Those addresses come
 * from {@link IoctlDevice.addressOf}; the buffers must be {@link pinnedBuffer}s and stay referenced until the call
 * returns.
 */
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import { errnoCode } from './tsm-fs.js';

/** An open guest device that takes ioctls. */
export interface IoctlDevice {
  readonly path: string;
  /**
   * Calls ioctl(fd, request, arg) synchronously; returns 0 on success, else the errno. Synchronous on purpose:
   * errno is thread-local, and koffi's async calls run on a worker thread whose errno we could not read.
   */
  ioctl(request: number, arg: Uint8Array): number;
  /** The address of `buf`'s first byte, for pointer fields inside ioctl structs. */
  addressOf(buf: Uint8Array): bigint;
  close(): Promise<void>;
}

/**
 * Opens a device for ioctls; throws ATTEST_ISSUER_UNAVAILABLE when it is missing or can't be opened. `needs` says
 * what would provide it, for that message ("an SEV-SNP guest with the sev-guest driver").
 */
export type DeviceOpener = (path: string, needs?: string) => Promise<IoctlDevice>;

// _IOC encoding (include/uapi/asm-generic/ioctl.h; x86 and arm64 use the generic layout): nr 8 bits, type 8,
// size 14, direction 2 (write = 1, read = 2).
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = 8;
const IOC_SIZESHIFT = 16;
const IOC_DIRSHIFT = 30;
const IOC_SIZE_MAX = (1 << 14) - 1;
const IOC_READ_WRITE = 3;

/** `_IOWR(type, nr, size)`: the request number of a read-write ioctl, as an unsigned 32-bit value. */
export function iowr(type: string, nr: number, size: number): number {
  const t = type.charCodeAt(0);
  if (type.length !== 1 || t > 0xff) throw new RangeError(`ioctl type must be one byte, got ${JSON.stringify(type)}`);
  if (!Number.isInteger(nr) || nr < 0 || nr > 0xff) throw new RangeError(`ioctl nr must be 0-255, got ${nr}`);
  if (!Number.isInteger(size) || size < 0 || size > IOC_SIZE_MAX) throw new RangeError(`ioctl size must be 0-${IOC_SIZE_MAX}, got ${size}`);
  return ((IOC_READ_WRITE << IOC_DIRSHIFT) | (size << IOC_SIZESHIFT) | (t << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT)) >>> 0;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** "ENOTTY (25)" — the name when the platform knows it, always the number. */
export function describeErrno(errno: number): string {
  const name = ERRNO_NAMES.get(errno);
  return name === undefined ? `errno ${errno}` : `${name} (${errno})`;
}

/**
 * A zeroed Buffer over its own ArrayBuffer. V8 never moves an ArrayBuffer's backing store, so its address stays
 * valid while the Buffer is referenced; small `new Uint8Array(n)` may live on the moving heap instead.
 */
export function pinnedBuffer(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size));
}

interface KoffiBinding {
  readonly ioctl: (fd: number, request: number, arg: Uint8Array) => number;
  readonly errno: () => number;
  readonly address: (buf: Uint8Array) => bigint;
}

let binding: Promise<KoffiBinding> | undefined;

async function loadKoffi(): Promise<KoffiBinding> {
  // koffi is CommonJS: under ESM its exports arrive as the default export.
  const koffi = (await import('koffi')).default;
  let libc;
  let fn;
  try {
    // The running process (node itself) already links libc; this works for glibc and musl alike.
    libc = koffi.load(null);
    fn = libc.func('int ioctl(int fd, unsigned long request, ...)');
  } catch {
    libc = koffi.load('libc.so.6');
    fn = libc.func('int ioctl(int fd, unsigned long request, ...)');
  }
  // ioctl is variadic in libc; koffi wants the C type of each variadic argument next to its value.
  return {
    ioctl: (fd, request, arg) => fn(fd, request, 'void *', arg) as number,
    errno: () => koffi.errno(),
    address: (buf) => koffi.address(buf),
  };
}

/** The koffi libc binding, loaded on first use. */
async function koffiBinding(path: string): Promise<KoffiBinding> {
  binding ??= loadKoffi();
  try {
    return await binding;
  } catch (err) {
    binding = undefined;
    throw new CcmeshError(ErrorCode.ATTEST_ISSUER_UNAVAILABLE, `${path}: the koffi FFI needed for ioctls could not be loaded: ${describeError(err)}`, { cause: err });
  }
}

/** The ATTEST_ISSUER_UNAVAILABLE error for a device that could not be opened, with the reason a user can act on. */
export function deviceUnavailable(path: string, err: unknown, needs: string): CcmeshError {
  const code = errnoCode(err);
  let why: string;
  switch (code) {
    case 'ENOENT':
      why = 'it does not exist';
      break;
    case 'EACCES':
    case 'EPERM':
      why = `permission denied (${code}); issuing evidence needs root in the guest`;
      break;
    case 'ENXIO':
    case 'ENODEV':
      why = `no driver answers behind the device node (${code})`;
      break;
    default:
      why = describeError(err);
  }
  return new CcmeshError(ErrorCode.ATTEST_ISSUER_UNAVAILABLE, `${path} is not usable: ${why} (${needs})`, { cause: err });
}

/** Opens `path` read-write and binds koffi's ioctl to it. */
export const openIoctlDevice: DeviceOpener = async (path, needs = 'a confidential guest with the matching guest driver') => {
  let fh: FileHandle;
  try {
    fh = await open(path, fsConstants.O_RDWR);
  } catch (err) {
    throw deviceUnavailable(path, err, needs);
  }
  let k: KoffiBinding;
  try {
    k = await koffiBinding(path);
  } catch (err) {
    await fh.close();
    throw err;
  }
  const fd = fh.fd;
  let closed = false;
  return {
    path,
    ioctl(request, arg) {
      if (closed) throw new CcmeshError(ErrorCode.INTERNAL, `${path}: ioctl on a closed device`);
      const ret = k.ioctl(fd, request, arg);
      // Read errno before anything else can run a libc call on this thread.
      return ret === -1 ? k.errno() || -1 : 0;
    },
    addressOf: (buf) => k.address(buf),
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
};
