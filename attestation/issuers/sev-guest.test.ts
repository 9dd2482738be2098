import fc from 'fast-check';
import t from 'tap';
import { bytesEqual, viewOf } from '../../lib/bytes.js';
import { ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { encodeCertTable } from './cert-table.js';
import { FakeSevGuestDevice, fakeDeviceOpener } from '../../test/support/attestation/fake-guest-device.js';
import { describeSnpGuestErrors, SevGuestIssuer } from './sev-guest.js';
import {
  decodeExtReportReq,
  decodeGuestRequestIoctl,
  decodeReportReq,
  decodeReportResp,
  encodeExtReportReq,
  encodeGuestRequestIoctl,
  encodeReportReq,
  encodeReportResp,
  SNP_GET_EXT_REPORT,
  SNP_GET_REPORT,
} from './sev-guest-structs.js';
import { milanCertificates, reportDataOf, snpReportWith } from '../../test/support/attestation/issuers.js';

const DEV = '/dev/sev-guest';
const CERTS = milanCertificates();
const TABLE = encodeCertTable(CERTS);
const firmware = (userData: Uint8Array, vmpl: number): Uint8Array => snpReportWith(userData, vmpl);

function setup(opts: Partial<ConstructorParameters<typeof FakeSevGuestDevice>[1]> = {}) {
  const dev = new FakeSevGuestDevice(DEV, { report: firmware, certs: TABLE, ...opts });
  return { dev, openDevice: fakeDeviceOpener({ [DEV]: dev }) };
}

void t.test('snp_guest_request_ioctl: 32 bytes, pointers at 8 and 16, exitinfo2 halves at 24/28', (t) => {
  const b = encodeGuestRequestIoctl({ msgVersion: 1, reqData: 0x1122334455667788n, respData: 0x99aabbccddeeff00n, exitinfo2: (2n << 32n) | 0x16n });
  t.equal(b.length, 32);
  t.equal(b[0], 1);
  t.same([...b.subarray(1, 8)], [0, 0, 0, 0, 0, 0, 0], 'padding');
  t.equal(viewOf(b).getBigUint64(8, true), 0x1122334455667788n);
  t.same(decodeGuestRequestIoctl(b), { msgVersion: 1, reqData: 0x1122334455667788n, respData: 0x99aabbccddeeff00n, exitinfo2: (2n << 32n) | 0x16n, fwError: 0x16, vmmError: 2 });
  t.throws(() => decodeGuestRequestIoctl(new Uint8Array(31)), RangeError);
  t.end();
});

void t.test('snp_report_req / snp_ext_report_req layouts', (t) => {
  const userData = reportDataOf(5);
  const r = encodeReportReq({ userData, vmpl: 2 });
  t.equal(r.length, 96);
  t.equal(viewOf(r).getUint32(64, true), 2, 'vmpl at 64');
  t.ok(r.subarray(68).every((x) => x === 0), 'rsvd zero');
  t.same(decodeReportReq(r), { userData, vmpl: 2 });
  const e = encodeExtReportReq({ userData, vmpl: 3, certsAddress: 0xdeadbeef000n, certsLen: 8192 });
  t.equal(e.length, 112);
  t.equal(viewOf(e).getBigUint64(96, true), 0xdeadbeef000n, 'certs_address at 96');
  t.equal(viewOf(e).getUint32(104, true), 8192, 'certs_len at 104');
  t.same(decodeExtReportReq(e), { userData, vmpl: 3, certsAddress: 0xdeadbeef000n, certsLen: 8192 });
  t.throws(() => encodeReportReq({ userData: new Uint8Array(63), vmpl: 0 }), RangeError);
  t.throws(() => encodeReportReq({ userData, vmpl: 4 }), RangeError);
  t.end();
});

void t.test('property: request structs round-trip', (t) => {
  const arb = fc.record({
    userData: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    vmpl: fc.integer({ min: 0, max: 3 }),
    certsAddress: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    certsLen: fc.nat({ max: 0xffffffff }),
  });
  fc.assert(
    fc.property(arb, (v) => {
      const d = decodeExtReportReq(encodeExtReportReq(v));
      return bytesEqual(d.userData, v.userData) && d.vmpl === v.vmpl && d.certsAddress === v.certsAddress && d.certsLen === v.certsLen;
    }),
    { numRuns: 200 },
  );
  t.end();
});

void t.test('snp_report_resp: MSG_REPORT_RSP with the report at 0x20, bounded and status-checked', (t) => {
  const report = snpReportWith(reportDataOf());
  const resp = encodeReportResp({ status: 0, report });
  t.equal(resp.length, 4000);
  t.equal(viewOf(resp).getUint32(4, true), 0x4a0);
  t.ok(bytesEqual(resp.subarray(0x20, 0x20 + 0x4a0), report));
  const d = decodeReportResp(resp);
  t.equal(d.reportSize, 0x4a0);
  t.ok(bytesEqual(d.report, report));
  t.throws(() => decodeReportResp(encodeReportResp({ status: 0x16, report })), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /status 0x16/ });
  t.throws(() => decodeReportResp(encodeReportResp({ status: 0, report, reportSize: 4000 - 0x1f })), { message: /does not fit/ });
  t.throws(() => decodeReportResp(encodeReportResp({ status: 0, report, reportSize: 0 })), { message: /0-byte report/ });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4000, maxLength: 4000 }), (b) => {
      try {
        decodeReportResp(b);
      } catch (err) {
        if ((err as { code?: unknown }).code !== ErrorCode.ATTEST_ISSUER_FAILED) throw err;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.end();
});

void t.test('extended report: the report we asked for, the host certificates, device closed', async (t) => {
  const { dev, openDevice } = setup();
  const rd = reportDataOf(11);
  const ev = await new SevGuestIssuer({}, { openDevice }).issue(rd);
  t.equal(ev.format, 'snp');
  if (ev.format !== 'snp') return;
  t.equal(ev.source, 'sev-guest');
  t.ok(bytesEqual(ev.report.subarray(0x50, 0x90), rd));
  t.same(ev.certificates, CERTS);
  t.same(dev.calls, [{ request: SNP_GET_EXT_REPORT, vmpl: 0, certsLen: 8192 }]);
  t.ok(dev.closed);
});

void t.test('INVALID_LEN: grow the certs buffer to what the host asked for, retry once', async (t) => {
  const big = encodeCertTable(CERTS, [{ guid: '01234567-89ab-cdef-0123-456789abcdef', data: new Uint8Array(6000) }]);
  const { dev, openDevice } = setup({ certs: big });
  const lines: string[] = [];
  const logger = createLogger({ component: 't', level: 'debug', sink: (l) => lines.push(l) });
  const ev = await new SevGuestIssuer({}, { openDevice, logger }).issue(reportDataOf());
  t.same(ev.format === 'snp' && ev.certificates, CERTS);
  t.same(
    dev.calls.map((c) => c.certsLen),
    [8192, 12288],
  );
  t.match(lines.join('\n'), /certificate buffer too small/);

  const stubborn = setup({ certs: big, neededCertsLen: (had) => had + 4096 });
  const small = new SevGuestIssuer({ certsBufferSize: 4096 }, { openDevice: stubborn.openDevice });
  await t.rejects(small.issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_FAILED,
    message: 'sev-guest: SNP_GET_EXT_REPORT on /dev/sev-guest failed: EIO (5); firmware error 0x00000000, VMM error 0x00000001 (INVALID_LEN)',
  });
  t.equal(stubborn.dev.calls.length, 2, 'retried exactly once');
  t.ok(stubborn.dev.closed);

  const odd = setup({ certs: big, neededCertsLen: () => 10000 });
  await t.rejects(new SevGuestIssuer({}, { openDevice: odd.openDevice }).issue(reportDataOf()), { message: /asked for a 10000-byte certificate buffer/ });
  const huge = setup({ certs: big, neededCertsLen: () => 1 << 20 });
  await t.rejects(new SevGuestIssuer({}, { openDevice: huge.openDevice }).issue(reportDataOf()), { message: /1048576-byte certificate buffer/ });
});

void t.test('firmware and VMM errors carry both codes and the errno', async (t) => {
  const { dev, openDevice } = setup({ fail: { errno: 5, fwError: 0x16 } });
  await t.rejects(new SevGuestIssuer({}, { openDevice }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_FAILED,
    message: 'sev-guest: SNP_GET_EXT_REPORT on /dev/sev-guest failed: EIO (5); firmware error 0x00000016 (INVALID_PARAM), VMM error 0x00000000',
  });
  t.ok(dev.closed);
  const busy = setup({ fail: { errno: 16, vmmError: 2 } });
  await t.rejects(new SevGuestIssuer({ extended: false }, { openDevice: busy.openDevice }).issue(reportDataOf()), { message: /SNP_GET_REPORT .* EBUSY \(16\); .*VMM error 0x00000002 \(BUSY\)/ });
  t.equal(describeSnpGuestErrors(0xffffffff, 0), 'firmware error 0xffffffff (no firmware call was made), VMM error 0x00000000');
  const status = setup({ respStatus: 0x27 });
  await t.rejects(new SevGuestIssuer({}, { openDevice: status.openDevice }).issue(reportDataOf()), { message: /MSG_REPORT_REQ with status 0x27/ });
});

void t.test('SNP_GET_REPORT and vmpl', async (t) => {
  const { dev, openDevice } = setup();
  const ev = await new SevGuestIssuer({ extended: false, vmpl: 1 }, { openDevice }).issue(reportDataOf());
  t.same(ev.format === 'snp' && ev.certificates, {});
  t.same(dev.calls, [{ request: SNP_GET_REPORT, vmpl: 1 }]);
  t.throws(() => new SevGuestIssuer({ vmpl: 4 }), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => new SevGuestIssuer({ certsBufferSize: 5000 }), { code: ErrorCode.CONFIG_INVALID });
});

void t.test('output that is not what we asked for is refused', async (t) => {
  const stale = setup({ report: () => snpReportWith(reportDataOf(77)) });
  await t.rejects(new SevGuestIssuer({}, { openDevice: stale.openDevice }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /REPORT_DATA .* not the requested/ });
  const wrongVmpl = setup({ report: (u) => snpReportWith(u, 0) });
  await t.rejects(new SevGuestIssuer({ vmpl: 2 }, { openDevice: wrongVmpl.openDevice }).issue(reportDataOf()), { message: /VMPL 0, not the requested 2/ });
  const badTable = setup({ certs: new Uint8Array(100).fill(3) });
  await t.rejects(new SevGuestIssuer({}, { openDevice: badTable.openDevice }).issue(reportDataOf()), { message: /certificate table is malformed/ });
  t.ok(badTable.dev.closed);
  const none = setup({ certs: new Uint8Array(0) });
  const ev = await new SevGuestIssuer({}, { openDevice: none.openDevice }).issue(reportDataOf());
  t.same(ev.format === 'snp' && ev.certificates, {}, 'a zeroed certs buffer is "no certificates"');
});

void t.test('missing device and bad input', async (t) => {
  const openDevice = fakeDeviceOpener({});
  await t.rejects(new SevGuestIssuer({ device: '/x/sev-guest' }, { openDevice }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /^\/x\/sev-guest is not usable: it does not exist/ });
  const { openDevice: o2 } = setup();
  await t.rejects(new SevGuestIssuer({}, { openDevice: o2 }).issue(new Uint8Array(10)), { code: ErrorCode.INPUT_MALFORMED });
  t.same(o2.opened, [], 'bad input never opens the device');
});
