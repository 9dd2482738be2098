/**
 * What is on a raw block device before ccmesh touches it, read by ccmesh itself (not by cryptsetup, which may repair a
 * damaged header from its backup copy — a write — while merely loading it).
 *
 * The only state that allows a format is {@link DeviceState} `blank`: no LUKS magic in the first bytes, no LUKS2
 * secondary header at any offset the format allows, and the first {@link BLANK_CHECK_BYTES} bytes all zero. Every other
 * state — a LUKS header (good or damaged), a device too small to check, non-zero data — is opened or refused, never
 * reformatted: a device that merely failed to open must keep its data.
 */
import { createHash } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** Bytes at the start of the device that must all be zero before ccmesh formats it (16 MiB: a LUKS2 header area and more). */
export const BLANK_CHECK_BYTES = 16 * 1024 * 1024;

/** Magic of a LUKS primary header (LUKS1 and LUKS2) and of a LUKS2 secondary header. */
export const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]);
export const LUKS2_SECONDARY_MAGIC = Buffer.from([0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe]);

/** Offsets where a LUKS2 secondary header can start (the header sizes cryptsetup allows: 16 KiB to 4 MiB). */
export const LUKS2_SECONDARY_OFFSETS: readonly number[] = Object.freeze([0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000]);

/** Binary LUKS2 header fields (big-endian; cryptsetup's on-disk format). */
const HDR = Object.freeze({ version: 6, hdrSize: 8, checksumAlg: 72, checksumAlgLen: 32, hdrOffset: 256, checksum: 448, checksumLen: 64, binarySize: 4096 });

/** What {@link inspectDevice} found. */
export type DeviceState =
  | { readonly kind: 'blank'; readonly size: number }
  | { readonly kind: 'luks2'; readonly size: number; readonly headerSize: number }
  | { readonly kind: 'refused'; readonly size: number; readonly reason: string };

/**
 * Reads the start of `path` (a block device) and classifies it. Throws SECURE_PV_REFUSED when `path` is not a block
 * device or can't be read; never writes. `blankBytes` is the zero check's length (tests use less than 16 MiB).
 */
export async function inspectDevice(path: string, blankBytes: number = BLANK_CHECK_BYTES): Promise<DeviceState> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new CcmeshError(ErrorCode.SECURE_PV_REFUSED, `secure volume device ${path}: can't open it for reading (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isBlockDevice()) throw new CcmeshError(ErrorCode.SECURE_PV_REFUSED, `secure volume device ${path}: not a block device (expected the raw block volume of the PVC)`);
    const size = await blockDeviceSize(st.rdev, path);
    const want = Math.max(blankBytes, HDR.binarySize);
    // Both LUKS2 header copies at their largest (2 × 4 MiB), or the zero check's length if that is more.
    const head = Buffer.alloc(Math.min(size, Math.max(want, 2 * LUKS2_SECONDARY_OFFSETS.at(-1)!)));
    let got = 0;
    while (got < head.length) {
      const { bytesRead } = await fh.read(head, got, head.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return classify(head.subarray(0, got), size, path, want);
  } finally {
    await fh.close();
  }
}

/** Size in bytes of the block device `rdev`, from sysfs (512-byte sectors whatever the logical block size). */
async function blockDeviceSize(rdev: number, path: string): Promise<number> {
  // glibc's dev_t encoding: major = bits 8–19 and 32–43, minor = bits 0–7 and 20–31.
  const major = (Math.floor(rdev / 2 ** 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | (Math.floor(rdev / 2 ** 12) & 0xfff00);
  const file = `/sys/dev/block/${major}:${minor}/size`;
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new CcmeshError(ErrorCode.SECURE_PV_REFUSED, `secure volume device ${path}: can't read its size from ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors) || sectors < 0) throw new CcmeshError(ErrorCode.SECURE_PV_REFUSED, `secure volume device ${path}: ${file} holds ${JSON.stringify(text.trim())}, expected a sector count`);
  return sectors * 512;
}

/**
 * The decision on the first bytes of a device of `size` bytes. Exported for the tests' byte-level cases; `want` is
 * the number of leading bytes that must be zero for `blank`.
 */
export function classify(head: Buffer, size: number, path: string, want: number): DeviceState {
  const refused = (reason: string): DeviceState => ({ kind: 'refused', size, reason: `secure volume device ${path}: ${reason}; not formatting it (a device is formatted only when it has no LUKS header and its first ${want} bytes are zero)` });
  if (head.length >= LUKS_MAGIC.length && head.subarray(0, LUKS_MAGIC.length).equals(LUKS_MAGIC)) {
    const problem = luks2HeaderProblem(head, 0, size);
    if (problem !== undefined) return refused(`a LUKS header is present but ${problem}`);
    const headerSize = Number(head.readBigUInt64BE(HDR.hdrSize));
    const secondary = luks2HeaderProblem(head, headerSize, size);
    if (secondary !== undefined) return refused(`the LUKS2 primary header is valid but the secondary header at offset ${headerSize} ${secondary}`);
    const dataOffset = luks2DataOffset(head, headerSize);
    if (dataOffset === undefined) return refused('its LUKS2 metadata (JSON area) has no readable data segment offset');
    // A device cut short (a snapshot restored onto a smaller disk, a truncated image) ends before its data does.
    if (size <= dataOffset) return refused(`it holds ${size} bytes but its LUKS2 data area starts at byte ${dataOffset} (truncated)`);
    return { kind: 'luks2', size, headerSize };
  }
  for (const off of LUKS2_SECONDARY_OFFSETS) {
    if (head.length >= off + LUKS2_SECONDARY_MAGIC.length && head.subarray(off, off + LUKS2_SECONDARY_MAGIC.length).equals(LUKS2_SECONDARY_MAGIC)) {
      return refused(`no LUKS primary header, but a LUKS2 secondary header at offset ${off} (the primary header was damaged or overwritten; recover it with "cryptsetup repair" after checking why)`);
    }
  }
  if (size < want) return refused(`it holds only ${size} bytes, fewer than the ${want} bytes checked for zeros (truncated, or too small for an encrypted volume)`);
  if (head.length < want) return refused(`only ${head.length} of its first ${want} bytes could be read`);
  const nonZero = firstNonZero(head.subarray(0, want));
  if (nonZero >= 0) {
    return refused(`no LUKS header, and byte ${nonZero} is not zero (found ${head.subarray(nonZero, nonZero + 16).toString('hex')} there: existing data or another format)`);
  }
  return { kind: 'blank', size };
}

/** `segments["0"].offset` of the primary header's JSON area (after its checksum was verified), or undefined. */
function luks2DataOffset(head: Buffer, headerSize: number): number | undefined {
  const area = head.subarray(HDR.binarySize, headerSize);
  const end = area.indexOf(0);
  try {
    const meta: unknown = JSON.parse(area.subarray(0, end < 0 ? area.length : end).toString('utf8'));
    const seg = (meta as { segments?: Record<string, { offset?: unknown }> } | null)?.segments?.['0'];
    const off = seg?.offset;
    return typeof off === 'string' && /^\d{1,15}$/.test(off) ? Number(off) : undefined;
  } catch {
    return undefined;
  }
}

function firstNonZero(b: Buffer): number {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return i;
  return -1;
}

/** Why the LUKS2 binary header at `off` is not intact (magic, version, size, offset, checksum), or undefined when it is. */
function luks2HeaderProblem(head: Buffer, off: number, size: number): string | undefined {
  const primary = off === 0;
  if (head.length < off + HDR.binarySize) return `is cut off: the device ends at byte ${size} (truncated)`;
  const magic = head.subarray(off, off + LUKS_MAGIC.length);
  if (!magic.equals(primary ? LUKS_MAGIC : LUKS2_SECONDARY_MAGIC)) return 'has no LUKS2 secondary magic (damaged)';
  const version = head.readUInt16BE(off + HDR.version);
  if (version !== 2) return `is LUKS version ${version} (expected 2)`;
  const hdrSize = head.readBigUInt64BE(off + HDR.hdrSize);
  if (!LUKS2_SECONDARY_OFFSETS.includes(Number(hdrSize))) return `declares a header size of ${hdrSize} bytes (expected one of ${LUKS2_SECONDARY_OFFSETS.join(', ')}; damaged)`;
  const hdrOffset = head.readBigUInt64BE(off + HDR.hdrOffset);
  if (hdrOffset !== BigInt(off)) return `declares its own offset as ${hdrOffset} but was found at ${off} (damaged or copied)`;
  const n = Number(hdrSize);
  if (head.length < off + n) return `is cut off: the device ends at byte ${size}, inside the header (truncated)`;
  const alg = head.subarray(off + HDR.checksumAlg, off + HDR.checksumAlg + HDR.checksumAlgLen).toString('latin1').replace(/\0+$/, '');
  if (alg !== 'sha256') return `uses checksum algorithm ${JSON.stringify(alg)} (expected "sha256")`;
  const area = Buffer.from(head.subarray(off, off + n));
  const stored = Buffer.from(area.subarray(HDR.checksum, HDR.checksum + 32));
  area.fill(0, HDR.checksum, HDR.checksum + HDR.checksumLen);
  if (!createHash('sha256').update(area).digest().equals(stored)) return 'fails its checksum (damaged)';
  return undefined;
}
