/**
 * The koffi ioctl binding, proven without TEE hardware: ioctls on /dev/null report ENOTTY through errno, and
 * FIONREAD on a regular file shows the Buffer argument really is passed as a pointer the kernel writes through.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../lib/errors.js';
import { describeErrno, iowr, openIoctlDevice, pinnedBuffer } from './ioctl.js';
import { SevGuestIssuer } from './sev-guest.js';
import { SNP_GET_EXT_REPORT, SNP_GET_REPORT } from './sev-guest-structs.js';
import { readTdReport, TDX_CMD_GET_REPORT0 } from './tdx-guest.js';
import { reportDataOf } from '../../test/support/attestation/issuers.js';

/** FIONREAD (asm-generic/ioctls.h, used by x86 and arm64): bytes readable; for a regular file, size − position. */
const FIONREAD = 0x541b;
const linux = process.platform === 'linux';

/** koffi's files in the CommonJS cache (ESM imports of CommonJS land there too). */
function koffiLoaded(): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/koffi/'));
}

// First in this file: nothing before it may have opened a device.
void t.test('koffi is loaded lazily: a missing device never touches the FFI', async (t) => {
  t.notOk(koffiLoaded(), 'not loaded by importing the issuers');
  await t.rejects(openIoctlDevice(join(tmpdir(), `ccmesh-absent-${process.pid}`)), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE });
  await t.rejects(new SevGuestIssuer({ device: join(tmpdir(), `ccmesh-absent-${process.pid}`) }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE });
  t.notOk(koffiLoaded(), 'still not loaded after a missing device');
  if (linux) {
    const dev = await openIoctlDevice('/dev/null');
    await dev.close();
    t.ok(koffiLoaded(), 'loaded once a device opened (proves the probe above can fail)');
  }
});

void t.test('_IOWR derivation gives the UAPI constants', (t) => {
  t.equal(SNP_GET_REPORT, 0xc0205300);
  t.equal(iowr('S', 0x1, 32), 0xc0205301, 'SNP_GET_DERIVED_KEY');
  t.equal(SNP_GET_EXT_REPORT, 0xc0205302);
  t.equal(TDX_CMD_GET_REPORT0, 0xc4405401);
  t.throws(() => iowr('ST', 0, 1), RangeError);
  t.throws(() => iowr('S', 256, 1), RangeError);
  t.throws(() => iowr('S', 0, 1 << 14), RangeError);
  t.end();
});

void t.test('describeErrno names what it can', (t) => {
  t.equal(describeErrno(25), 'ENOTTY (25)');
  t.equal(describeErrno(-1), 'errno -1');
  t.end();
});

void t.test('koffi ioctl on /dev/null reports ENOTTY through errno', { skip: linux ? false : 'needs Linux ioctl semantics' }, async (t) => {
  const dev = await openIoctlDevice('/dev/null');
  try {
    const arg = pinnedBuffer(32);
    t.equal(dev.ioctl(SNP_GET_REPORT, arg), 25, 'ENOTTY');
    t.equal(dev.ioctl(TDX_CMD_GET_REPORT0, pinnedBuffer(1088)), 25);
    const base = dev.addressOf(arg);
    t.ok(base > 0n);
    t.equal(dev.addressOf(arg.subarray(4)), base + 4n, 'addresses follow byteOffset');
  } finally {
    await dev.close();
  }
  await dev.close();
  t.throws(() => dev.ioctl(SNP_GET_REPORT, pinnedBuffer(32)), { code: ErrorCode.INTERNAL }, 'no ioctl after close');
});

void t.test('koffi passes the Buffer as a pointer the kernel writes through (FIONREAD)', { skip: linux ? false : 'needs Linux' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-ioctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'f');
  writeFileSync(file, Buffer.alloc(1234));
  const dev = await openIoctlDevice(file);
  try {
    const out = pinnedBuffer(4);
    t.equal(dev.ioctl(FIONREAD, out), 0);
    t.equal(out.readInt32LE(0), 1234);
  } finally {
    await dev.close();
  }
});

void t.test('a missing device is ATTEST_ISSUER_UNAVAILABLE naming the path', async (t) => {
  const path = join(tmpdir(), `ccmesh-no-such-device-${process.pid}`);
  await t.rejects(openIoctlDevice(path, 'it needs X'), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: `${path} is not usable: it does not exist (it needs X)` });
  await t.rejects(new SevGuestIssuer({ device: path }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /is not usable: it does not exist \(it needs an SEV-SNP guest/ });
  await t.rejects(readTdReport(reportDataOf(), { device: path }), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /it needs an Intel TDX guest/ });
});

void t.test('the real issuers on /dev/null fail with the errno, never a crash', { skip: linux ? false : 'needs Linux' }, async (t) => {
  await t.rejects(new SevGuestIssuer({ device: '/dev/null' }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_FAILED,
    message: 'sev-guest: SNP_GET_EXT_REPORT on /dev/null failed: ENOTTY (25); firmware error 0x00000000, VMM error 0x00000000',
  });
  await t.rejects(new SevGuestIssuer({ device: '/dev/null', extended: false }).issue(reportDataOf()), { message: /SNP_GET_REPORT on \/dev\/null failed: ENOTTY/ });
  await t.rejects(readTdReport(reportDataOf(), { device: '/dev/null' }), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /TDX_CMD_GET_REPORT0 on \/dev\/null failed: ENOTTY \(25\)/ });
});
