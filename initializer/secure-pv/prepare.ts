/**
 * Prepares one encrypted persistent volume for the app: the raw block device of a PVC becomes a LUKS2 volume with
 * authenticated encryption, opened with a key derived from the workload secret, holding an ext4 filesystem mounted at
 * a directory the app containers see through mount propagation (docs/kubernetes.md, "Encrypted persistent volumes").
 *
 * SECURITY: a device is formatted only when {@link inspectDevice} found it blank (no LUKS header, first 16 MiB zero).
 * A LUKS header that is damaged, that the derived key does not open, that declares another cipher or no integrity, or
 * that belongs to a device shorter than its data offset (device.ts) stops here with SECURE_PV_REFUSED, before anything is written;
 * the same rule holds one layer up for the filesystem (mkfs only on an all-zero start of the opened volume).
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { CRYPTSETUP_WRONG_KEY, dumpArgs, formatArgs, openArgs, type Runner, testKeyArgs } from './cryptsetup.js';
import { inspectDevice } from './device.js';
import { deriveVolumeKey } from './key.js';

/** What to prepare. */
export interface SecureVolumeSpec {
  /** The raw block device (the PVC's `volumeDevices` path in the helper container). */
  readonly device: string;
  /** The pod volume name of the block volume: bound into the key and the mapping's name. */
  readonly volume: string;
  /** Where the filesystem is mounted (the mount volume, shared with the app by mount propagation). */
  readonly mountDir: string;
  /** The pod's workload secret (64 bytes as the initializer writes it). */
  readonly workloadSecret: Uint8Array;
  /** Owner given to the new filesystem's root directory when it is made (the app's uid and gid); absent: root's. */
  readonly rootOwner?: { readonly uid: number; readonly gid: number };
  /** Leading bytes that must be zero before a format (tests use less than the default 16 MiB). */
  readonly blankBytes?: number;
}

/** What {@link prepareSecureVolume} did. */
export interface PreparedVolume {
  /** True when the device was blank and has been formatted now (first use). */
  readonly formatted: boolean;
  /** The opened volume, `/dev/mapper/<name>`. */
  readonly mapper: string;
}

/** The device-mapper name of the volume `volume`: one per pod volume (a confidential pod is its own kernel). */
export function mapperName(volume: string): string {
  return `ccmesh-pv-${volume}`;
}

/** Encryption the segment of a ccmesh volume must declare. */
export const EXPECTED_SEGMENT = Object.freeze({ encryption: 'aes-xts-plain64', integrity: 'hmac(sha256)' });

function refused(device: string, what: string): CcmeshError {
  return new CcmeshError(ErrorCode.SECURE_PV_REFUSED, `secure volume device ${device}: ${what}; not formatting it and not opening it`);
}

function failed(step: string, device: string, r: { code: number; stderr: string }): CcmeshError {
  return new CcmeshError(ErrorCode.SECURE_PV_FAILED, `secure volume device ${device}: ${step} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output'}`);
}

/**
 * Reads and checks the LUKS2 metadata of a device whose binary headers {@link inspectDevice} verified, then the key.
 * Nothing here writes to the device.
 */
export async function checkLuksVolume(runner: Runner, device: string, key: Buffer): Promise<void> {
  const dump = await runner.run('cryptsetup', dumpArgs(device));
  if (dump.code !== 0) throw refused(device, `its LUKS2 metadata can't be read (cryptsetup luksDump exit ${dump.code}: ${dump.stderr.trim() || 'no output'})`);
  let meta: unknown;
  try {
    meta = JSON.parse(dump.stdout);
  } catch {
    throw refused(device, 'cryptsetup luksDump printed metadata that is not JSON');
  }
  const segments = isObj(meta) && isObj(meta.segments) ? meta.segments : undefined;
  const keys = segments === undefined ? [] : Object.keys(segments);
  if (segments === undefined || keys.length !== 1 || !isObj(segments['0'])) throw refused(device, `its LUKS2 metadata has segments ${JSON.stringify(keys)} (expected exactly one, "0")`);
  const seg = segments['0'];

  const test = await runner.run('cryptsetup', testKeyArgs(device, key.length), key);
  if (test.code === CRYPTSETUP_WRONG_KEY) {
    throw refused(device, 'it has a LUKS2 header, but the key derived from this workload\'s secret does not open it (another workload\'s volume, a changed workloadSecretId, or a header replaced by the host)');
  }
  if (test.code !== 0) throw refused(device, `checking the key against its LUKS2 keyslots failed (cryptsetup exit ${test.code}: ${test.stderr.trim() || 'no output'})`);

  // SECURITY: the host can't make a header our key opens, but it can edit the (unauthenticated) metadata of ours; a
  // segment without integrity would let it change blocks unnoticed. Only the exact scheme ccmesh formats is opened.
  const integrity = isObj(seg.integrity) ? seg.integrity.type : undefined;
  if (seg.encryption !== EXPECTED_SEGMENT.encryption || integrity !== EXPECTED_SEGMENT.integrity) {
    throw refused(device, `its data segment is encrypted with ${JSON.stringify(seg.encryption)} and integrity ${JSON.stringify(integrity ?? 'none')} (expected ${EXPECTED_SEGMENT.encryption} with ${EXPECTED_SEGMENT.integrity}, what ccmesh formats)`);
  }
}

/**
 * Formats (first use only), checks, opens, makes the filesystem (first use only) and mounts the volume. Idempotent
 * across restarts of the helper: an already active mapping and an already mounted directory are kept.
 */
export async function prepareSecureVolume(spec: SecureVolumeSpec, runner: Runner, log: (line: string) => void = () => undefined): Promise<PreparedVolume> {
  const key = deriveVolumeKey(spec.workloadSecret, spec.volume);
  const name = mapperName(spec.volume);
  const mapper = `/dev/mapper/${name}`;
  let formatted = false;
  try {
    let state = await inspectDevice(spec.device, spec.blankBytes);
    if (state.kind === 'refused') throw new CcmeshError(ErrorCode.SECURE_PV_REFUSED, state.reason);
    if (state.kind === 'blank') {
      log(`secure volume ${spec.volume}: ${spec.device} is blank (no LUKS header, leading bytes zero); formatting it with LUKS2 and HMAC-SHA256 integrity`);
      const r = await runner.run('cryptsetup', formatArgs(spec.device, `ccmesh-${spec.volume}`, key.length), key);
      if (r.code !== 0) throw failed('cryptsetup luksFormat', spec.device, r);
      formatted = true;
      state = await inspectDevice(spec.device, spec.blankBytes);
      if (state.kind !== 'luks2') throw refused(spec.device, `after luksFormat it does not hold a valid LUKS2 header (${state.kind === 'refused' ? state.reason : state.kind})`);
    }
    await checkLuksVolume(runner, spec.device, key);
    const active = await runner.run('cryptsetup', ['status', name]);
    if (active.code !== 0) {
      const r = await runner.run('cryptsetup', openArgs(spec.device, name, key.length), key);
      if (r.code !== 0) throw failed('cryptsetup open', spec.device, r);
    } else {
      log(`secure volume ${spec.volume}: ${mapper} is already open`);
    }
  } finally {
    key.fill(0);
  }
  const fs = await filesystemState(mapper);
  if (fs === 'blank') {
    log(`secure volume ${spec.volume}: ${mapper} holds no filesystem yet; making ext4`);
    const r = await runner.run('mkfs.ext4', ['-q', '-L', `ccmesh-${spec.volume}`.slice(0, 16), mapper]);
    if (r.code !== 0) throw failed('mkfs.ext4', mapper, r);
  } else if (fs !== 'ext4') {
    throw refused(mapper, `the opened volume holds neither an ext4 filesystem nor zeros (${fs}); not making a filesystem on it`);
  }
  if (await isMountedFrom(spec.mountDir, mapper)) {
    log(`secure volume ${spec.volume}: ${spec.mountDir} is already mounted`);
  } else {
    const r = await runner.run('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', mapper, spec.mountDir]);
    if (r.code !== 0) throw failed(`mount at ${spec.mountDir}`, mapper, r);
  }
  // A new filesystem's root is root's and 0755: hand it to the app once, when it is made (later starts keep
  // whatever the app did with it).
  if (fs === 'blank' && spec.rootOwner !== undefined) await fsp.chown(spec.mountDir, spec.rootOwner.uid, spec.rootOwner.gid);
  log(`secure volume ${spec.volume}: ${spec.device} open as ${mapper}, mounted at ${spec.mountDir}${formatted ? ' (formatted now)' : ''}`);
  return { formatted, mapper };
}

/** Unmounts and closes the volume (the helper's SIGTERM); each step is skipped when already undone. */
export async function closeSecureVolume(volume: string, mountDir: string, runner: Runner): Promise<void> {
  if (await isMountedFrom(mountDir, `/dev/mapper/${mapperName(volume)}`)) {
    const r = await runner.run('umount', [mountDir]);
    if (r.code !== 0) throw failed(`umount ${mountDir}`, mountDir, r);
  }
  const name = mapperName(volume);
  if ((await runner.run('cryptsetup', ['status', name])).code === 0) {
    const r = await runner.run('cryptsetup', ['close', name]);
    if (r.code !== 0) throw failed('cryptsetup close', `/dev/mapper/${name}`, r);
  }
}

/** Bytes of the opened volume's start read to find a filesystem: the ext4 superblock sits at 1024. */
const FS_PROBE_BYTES = 1024 * 1024;
const EXT4_MAGIC_OFFSET = 1024 + 0x38;

/** `blank` (all zero), `ext4`, or a description of what else is there. */
async function filesystemState(path: string): Promise<string> {
  const fh = await fsp.open(path, constants.O_RDONLY);
  try {
    const b = Buffer.alloc(FS_PROBE_BYTES);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    const head = b.subarray(0, bytesRead);
    if (head.length > EXT4_MAGIC_OFFSET + 1 && head.readUInt16LE(EXT4_MAGIC_OFFSET) === 0xef53) return 'ext4';
    if (head.length === FS_PROBE_BYTES && head.every((x) => x === 0)) return 'blank';
    return `first bytes ${head.subarray(0, 16).toString('hex')}`;
  } finally {
    await fh.close();
  }
}

/**
 * True when the filesystem at `dir` is the one on block device `device` (its st_dev is the device's st_rdev) and `dir`
 * is that filesystem's root. Not "is a mount point": in the helper the mount volume is itself a bind mount of the
 * emptyDir, a mount point before anything was mounted on it.
 */
export async function isMountedFrom(dir: string, device: string): Promise<boolean> {
  const [d, dev, parent] = await Promise.all([fsp.stat(dir), fsp.stat(device).catch(() => undefined), fsp.stat(dirname(dir.replace(/\/+$/, '') || '/'))]);
  return dev !== undefined && dev.isBlockDevice() && d.dev === dev.rdev && (d.dev !== parent.dev || d.ino === parent.ino);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
