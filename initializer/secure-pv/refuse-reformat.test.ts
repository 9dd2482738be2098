/**
 * "Never reformat a device that merely failed to open", on real loop devices with the real cryptsetup: a blank device
 * is formatted (key on stdin only); a LUKS2 header our key does not open, a damaged header (checksum, magic), a
 * truncated device, non-zero non-LUKS contents and a volume without integrity protection are refused with a message
 * naming the device and what was found, the device's bytes unchanged, and neither luksFormat nor a real open run.
 *
 * These machines have loop devices but no device-mapper: `cryptsetup luksFormat --integrity` (which formats the
 * dm-integrity tags through the kernel) and `cryptsetup open` can't run here. The fixtures' LUKS2 headers are made
 * by the test with plain `cryptsetup luksFormat` (no integrity); the full format/open/mkfs/mount/reopen path is the
 * last test, which runs only where /dev/mapper/control opens and says so when it can't. Needs root and losetup; CI
 * runs as root and fails rather than skips.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ProcessRunner, type RunResult, type Runner } from './cryptsetup.js';
import { BLANK_CHECK_BYTES, classify } from './device.js';
import { deriveVolumeKey } from './key.js';
import { closeSecureVolume, isMountedFrom, prepareSecureVolume } from './prepare.js';

const MiB = 1024 * 1024;
const SECRET = randomBytes(64);
const VOLUME = 'data';

/** Records every command (and its stdin) before running it for real. */
class RecordingRunner implements Runner {
  readonly calls: { cmd: string; args: readonly string[]; stdin?: Buffer }[] = [];
  readonly #inner = new ProcessRunner(120_000);
  run(cmd: string, args: readonly string[], stdin?: Uint8Array): Promise<RunResult> {
    this.calls.push({ cmd, args, ...(stdin === undefined ? {} : { stdin: Buffer.from(stdin) }) });
    return this.#inner.run(cmd, args, stdin);
  }
  /** The cryptsetup actions run (first argument), e.g. ['luksDump', 'open']. */
  actions(): string[] {
    return this.calls.filter((c) => c.cmd === 'cryptsetup').map((c) => (c.args.includes('--test-passphrase') ? 'test-passphrase' : c.args[0]!));
  }
}

function sh(cmd: string, args: readonly string[], input?: Buffer): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A loop device over a fresh image file of `bytes` bytes (zeros), detached at the end of the test. */
function loop(t: Test, dir: string, name: string, bytes: number): { dev: string; img: string } {
  const img = join(dir, name);
  writeFileSync(img, Buffer.alloc(0));
  spawnSync('truncate', ['-s', String(bytes), img]);
  const dev = sh('losetup', ['-f', '--show', img]);
  t.teardown(() => void spawnSync('losetup', ['-d', dev]));
  return { dev, img };
}

/** A LUKS2 header (no integrity: that needs device-mapper) with the given passphrase, as a fixture. */
function luksFixture(dev: string, key: Buffer): void {
  sh('cryptsetup', ['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file=-', '--keyfile-size', String(key.length), dev], key);
}

function patch(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** prepareSecureVolume must refuse `dev` with SECURE_PV_REFUSED matching `why`, write nothing and never format or open. */
async function expectRefused(t: Test, dev: string, img: string, why: RegExp, mountDir: string): Promise<RecordingRunner> {
  const before = sha(img);
  const runner = new RecordingRunner();
  const e = await prepareSecureVolume({ device: dev, volume: VOLUME, mountDir, workloadSecret: SECRET }, runner).then(() => undefined, (x: unknown) => x);
  t.ok(e instanceof CcmeshError && e.code === ErrorCode.SECURE_PV_REFUSED, `SECURE_PV_REFUSED (got ${String(e)})`);
  t.match(String((e as Error | undefined)?.message), new RegExp(`secure volume device ${dev}: `), 'names the device');
  t.match(String((e as Error | undefined)?.message), why, 'says what was found');
  spawnSync('sync');
  t.equal(sha(img), before, 'the device bytes are unchanged');
  const acts = runner.actions();
  t.notOk(acts.includes('luksFormat'), `never luksFormat (ran: ${acts.join(', ') || 'nothing'})`);
  t.notOk(acts.includes('open'), 'never opened');
  t.notOk(runner.calls.some((c) => c.cmd === 'mkfs.ext4' || c.cmd === 'mount'), 'no mkfs, no mount');
  return runner;
}

void t.test('classify: byte-level cases without a device', async (t) => {
  const want = 64 * 1024;
  t.equal(classify(Buffer.alloc(want), want, '/dev/x', want).kind, 'blank');
  const junk = Buffer.alloc(want);
  junk[5000] = 1;
  const r = classify(junk, want, '/dev/x', want);
  t.equal(r.kind, 'refused');
  t.match(r.kind === 'refused' ? r.reason : '', /secure volume device \/dev\/x: no LUKS header, and byte 5000 is not zero/);
  const luks1 = Buffer.alloc(want);
  Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0, 1]).copy(luks1);
  const l1 = classify(luks1, want, '/dev/x', want);
  t.match(l1.kind === 'refused' ? l1.reason : l1.kind, /is LUKS version 1 \(expected 2\)/);
  const short = classify(Buffer.alloc(4096), 4096, '/dev/x', want);
  t.match(short.kind === 'refused' ? short.reason : short.kind, /holds only 4096 bytes, fewer than the 65536 bytes checked/);
  t.equal(BLANK_CHECK_BYTES, 16 * MiB, 'the default zero check covers 16 MiB');
});

const root = process.getuid?.() === 0;
const tools = spawnSync('cryptsetup', ['--version']).status === 0 && spawnSync('losetup', ['--version']).status === 0;
if ((!root || !tools) && process.env.CI) {
  t.fail('the secure-pv device tests must run as root with cryptsetup-bin and losetup in CI');
} else if (!root || !tools) {
  t.pass('secure-pv device tests', { skip: !root ? 'needs root for loop devices' : 'needs cryptsetup (cryptsetup-bin) and losetup' });
} else {
  const base = mkdtempSync(join(tmpdir(), 'pv-secure-pv-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const mountDir = join(base, 'mnt');
  mkdirSync(mountDir);
  const key = deriveVolumeKey(SECRET, VOLUME);

  void t.test('a LUKS2 header the derived key does not open is refused, not reformatted', async (t) => {
    const { dev, img } = loop(t, base, 'wrong-key.img', 32 * MiB);
    luksFixture(dev, deriveVolumeKey(randomBytes(64), VOLUME));
    await expectRefused(t, dev, img, /the key derived from this workload's secret does not open it/, mountDir);
  });

  void t.test('a LUKS2 volume without integrity protection is refused even though the key opens it', async (t) => {
    const { dev, img } = loop(t, base, 'no-integrity.img', 32 * MiB);
    luksFixture(dev, key);
    await expectRefused(t, dev, img, /integrity "none" \(expected aes-xts-plain64 with hmac\(sha256\)/, mountDir);
  });

  void t.test('a LUKS2 header whose metadata was changed fails its checksum and is refused before cryptsetup reads it', async (t) => {
    const { dev, img } = loop(t, base, 'bad-checksum.img', 32 * MiB);
    luksFixture(dev, key);
    patch(dev, 4096 + 40, Buffer.from('X'));
    const runner = await expectRefused(t, dev, img, /a LUKS header is present but fails its checksum \(damaged\)/, mountDir);
    t.same(runner.actions(), [], 'cryptsetup was not run on the damaged header (it could repair it from the backup copy)');
  });

  void t.test('a damaged primary magic with the secondary header intact is refused, not treated as data or blank', async (t) => {
    const { dev, img } = loop(t, base, 'bad-magic.img', 32 * MiB);
    luksFixture(dev, key);
    patch(dev, 0, Buffer.alloc(6));
    await expectRefused(t, dev, img, /no LUKS primary header, but a LUKS2 secondary header at offset 16384/, mountDir);
  });

  void t.test('a header whose secondary copy is damaged is refused', async (t) => {
    const { dev, img } = loop(t, base, 'bad-secondary.img', 32 * MiB);
    luksFixture(dev, key);
    patch(dev, 16384 + 4096 + 40, Buffer.from('X'));
    await expectRefused(t, dev, img, /the secondary header at offset 16384 fails its checksum/, mountDir);
  });

  void t.test('a truncated device is refused: cut inside the header, and cut before the data area', async (t) => {
    const full = loop(t, base, 'full.img', 32 * MiB);
    luksFixture(full.dev, key);
    const head = readFileSync(full.dev).subarray(0, 8 * MiB);
    const cutData = loop(t, base, 'cut-data.img', 8 * MiB);
    patch(cutData.dev, 0, head);
    await expectRefused(t, cutData.dev, cutData.img, /holds 8388608 bytes but its LUKS2 data area starts at byte 16777216 \(truncated\)/, mountDir);
    const cutHeader = loop(t, base, 'cut-header.img', 20 * 1024);
    patch(cutHeader.dev, 0, head.subarray(0, 20 * 1024));
    await expectRefused(t, cutHeader.dev, cutHeader.img, /the secondary header at offset 16384 is cut off: the device ends at byte 20480, inside the header \(truncated\)/, mountDir);
  });

  void t.test('non-zero contents without a LUKS header (a filesystem, random data) are refused, not formatted', async (t) => {
    const { dev, img } = loop(t, base, 'garbage.img', 32 * MiB);
    patch(dev, 3 * MiB, randomBytes(512));
    await expectRefused(t, dev, img, /no LUKS header, and byte 3145728 is not zero/, mountDir);
    const small = loop(t, base, 'small.img', 8 * MiB);
    await expectRefused(t, small.dev, small.img, /holds only 8388608 bytes, fewer than the 16777216 bytes checked for zeros/, mountDir);
  });

  void t.test('a blank device is formatted, with the passphrase on stdin only', async (t) => {
    const { dev } = loop(t, base, 'blank.img', 64 * MiB);
    const runner = new RecordingRunner();
    let error: unknown;
    try {
      await prepareSecureVolume({ device: dev, volume: VOLUME, mountDir, workloadSecret: SECRET }, runner);
    } catch (e) {
      error = e;
    }
    const format = runner.calls.find((c) => c.cmd === 'cryptsetup' && c.args[0] === 'luksFormat');
    t.ok(format, 'luksFormat ran on the blank device');
    t.same(format?.args.slice(-4), ['--key-file=-', '--keyfile-size', '32', dev], 'the key is read from stdin, exactly 32 bytes');
    t.ok(format?.args.includes('--integrity') && format.args[format.args.indexOf('--integrity') + 1] === 'hmac-sha256', 'authenticated: --integrity hmac-sha256');
    t.ok(format?.stdin?.equals(key), 'the derived key is what went to stdin');
    for (const c of runner.calls) {
      const argv = c.args.join(' ');
      t.notOk(argv.includes(key.toString('hex')) || argv.includes(key.toString('base64')) || argv.includes(key.toString('latin1')), `the key is not in the argv of ${c.cmd} ${c.args[0] ?? ''}`);
    }
    if (error !== undefined) {
      // Without device-mapper, luksFormat --integrity can't write the integrity tags (it fails before writing the header).
      t.ok(error instanceof CcmeshError && error.code === ErrorCode.SECURE_PV_FAILED, `a failed format is SECURE_PV_FAILED (got ${String(error)})`);
      t.match((error as Error).message, new RegExp(`secure volume device ${dev}: cryptsetup luksFormat failed`));
    } else {
      await closeSecureVolume(VOLUME, mountDir, runner);
    }
  });

  void t.test('isMountedFrom: true only for the root of the filesystem on that device, not for any mount point', { skip: spawnSync('mkfs.ext4', ['-V']).status === 0 ? false : 'needs mkfs.ext4 (e2fsprogs)' }, async (t) => {
    const { dev } = loop(t, base, 'mounted.img', 8 * MiB);
    sh('mkfs.ext4', ['-q', dev]);
    const at = join(base, 'mounted');
    mkdirSync(at);
    t.equal(await isMountedFrom(at, dev), false, 'before the mount');
    sh('mount', ['-t', 'ext4', dev, at]);
    t.teardown(() => void spawnSync('umount', [at]));
    mkdirSync(join(at, 'sub'));
    t.equal(await isMountedFrom(at, dev), true, 'mounted from that device');
    t.equal(await isMountedFrom(join(at, 'sub'), dev), false, 'a directory inside it is not its root');
    t.equal(await isMountedFrom('/proc', dev), false, 'another mount point');
    t.equal(await isMountedFrom(at, '/dev/null'), false, 'another device');
  });

  const dm = ((): string | undefined => {
    try {
      closeSync(openSync('/dev/mapper/control', 'r+'));
      return undefined;
    } catch (e) {
      return `no device-mapper here (/dev/mapper/control: ${(e as NodeJS.ErrnoException).code ?? String(e)}): the format with integrity, open, mkfs and mount path can't run on this machine`;
    }
  })();
  const mkfs = spawnSync('mkfs.ext4', ['-V']).status === 0;
  void t.test('first use formats, opens, makes ext4 and mounts; a later start opens the same data without formatting', { skip: dm ?? (mkfs ? false : 'needs mkfs.ext4 (e2fsprogs)') }, async (t) => {
    const { dev } = loop(t, base, 'roundtrip.img', 96 * MiB);
    const first = await prepareSecureVolume({ device: dev, volume: VOLUME, mountDir, workloadSecret: SECRET, rootOwner: { uid: 1000, gid: 2000 } }, new ProcessRunner(), (l) => t.comment(l));
    t.equal(first.formatted, true);
    t.same([statSync(mountDir).uid, statSync(mountDir).gid], [1000, 2000], 'the new filesystem\'s root is the app\'s');
    writeFileSync(join(mountDir, 'state'), 'kept');
    await closeSecureVolume(VOLUME, mountDir, new ProcessRunner());
    t.notOk(existsSync(join(mountDir, 'state')), 'unmounted');
    const runner = new RecordingRunner();
    const second = await prepareSecureVolume({ device: dev, volume: VOLUME, mountDir, workloadSecret: SECRET }, runner);
    t.equal(second.formatted, false, 'not formatted again');
    t.notOk(runner.actions().includes('luksFormat'));
    t.equal(readFileSync(join(mountDir, 'state'), 'utf8'), 'kept', 'the data survived');
    await closeSecureVolume(VOLUME, mountDir, runner);
    const other = await prepareSecureVolume({ device: dev, volume: VOLUME, mountDir, workloadSecret: randomBytes(64) }, new ProcessRunner()).catch((e: unknown) => e);
    t.ok(other instanceof CcmeshError && other.code === ErrorCode.SECURE_PV_REFUSED, 'another workload secret is refused');
  });
}
