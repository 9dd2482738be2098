import fc from 'fast-check';
import t from 'tap';
import { bytesEqual, toHex, viewOf } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { FakeTdxGuestDevice, fakeDeviceOpener } from '../../test/support/attestation/fake-guest-device.js';
import { parseTdReport, TD_REPORT_SIZE } from './td-report.js';
import { decodeTdxReportReq, encodeTdxReportReq, readTdReport, TDX_REPORT_REQ_SIZE, TdxGuestIssuer } from './tdx-guest.js';
import { reportDataOf } from '../../test/support/attestation/issuers.js';

const DEV = '/dev/tdx_guest';

/** A TDREPORT where every field is filled with a distinct byte, so a wrong offset shows. */
function syntheticTdReport(reportData: Uint8Array): Uint8Array {
  const b = new Uint8Array(TD_REPORT_SIZE);
  const fill = (off: number, len: number, v: number): void => void b.fill(v, off, off + len);
  b.set([0x81, 0x00, 0x01, 0x00], 0);
  fill(16, 16, 0x10); // CPUSVN
  fill(32, 48, 0x20); // TEE_TCB_INFO_HASH
  fill(80, 48, 0x30); // TEE_INFO_HASH
  b.set(reportData, 128);
  fill(224, 32, 0x40); // MAC
  fill(256, 8, 0x50); // VALID
  fill(264, 16, 0x51); // TEE_TCB_SVN
  fill(280, 48, 0x52); // MRSEAM
  fill(328, 48, 0x53); // MRSIGNERSEAM
  fill(376, 8, 0x54); // ATTRIBUTES
  fill(384, 16, 0x55); // TEE_TCB_SVN2
  viewOf(b).setBigUint64(512, 0x10000000n, true); // TD ATTRIBUTES: SEPT_VE_DISABLE
  viewOf(b).setBigUint64(520, 0xe7n, true); // XFAM
  [528, 576, 624, 672, 720, 768, 816, 864, 912].forEach((off, i) => fill(off, 48, 0x60 + i));
  return b;
}

void t.test('tdx_report_req: reportdata[64] then tdreport[1024]', (t) => {
  t.equal(TDX_REPORT_REQ_SIZE, 1088);
  const rd = reportDataOf(2);
  const req = encodeTdxReportReq(rd);
  t.equal(req.length, 1088);
  t.ok(bytesEqual(req.subarray(0, 64), rd));
  t.ok(req.subarray(64).every((x) => x === 0));
  req.set(syntheticTdReport(rd), 64);
  const d = decodeTdxReportReq(req);
  t.ok(bytesEqual(d.reportData, rd));
  t.equal(d.tdReport[0], 0x81);
  t.throws(() => encodeTdxReportReq(new Uint8Array(65)), RangeError);
  t.throws(() => decodeTdxReportReq(new Uint8Array(1087)), RangeError);
  t.end();
});

void t.test('parseTdReport reads every field at its FORMATS.md §5.3 offset', (t) => {
  const rd = reportDataOf(9);
  const r = parseTdReport(syntheticTdReport(rd));
  const all = (b: Uint8Array, len: number, v: number): boolean => b.length === len && b.every((x) => x === v);
  t.same(r.reportType, { type: 0x81, subtype: 0, version: 1 });
  t.ok(all(r.cpuSvn, 16, 0x10));
  t.ok(all(r.teeTcbInfoHash, 48, 0x20));
  t.ok(all(r.teeInfoHash, 48, 0x30));
  t.equal(toHex(r.reportData), toHex(rd));
  t.ok(all(r.mac, 32, 0x40));
  t.ok(all(r.teeTcbInfo.valid, 8, 0x50));
  t.ok(all(r.teeTcbInfo.teeTcbSvn, 16, 0x51));
  t.ok(all(r.teeTcbInfo.mrSeam, 48, 0x52));
  t.ok(all(r.teeTcbInfo.mrSignerSeam, 48, 0x53));
  t.ok(all(r.teeTcbInfo.attributes, 8, 0x54));
  t.ok(all(r.teeTcbInfo.teeTcbSvn2, 16, 0x55));
  t.equal(r.tdInfo.attributes, 0x10000000n);
  t.equal(r.tdInfo.xfam, 0xe7n);
  t.ok(all(r.tdInfo.mrTd, 48, 0x60));
  t.ok(all(r.tdInfo.mrConfigId, 48, 0x61));
  t.ok(all(r.tdInfo.mrOwner, 48, 0x62));
  t.ok(all(r.tdInfo.mrOwnerConfig, 48, 0x63));
  r.tdInfo.rtmr.forEach((m, i) => t.ok(all(m, 48, 0x64 + i), `RTMR${i}`));
  t.ok(all(r.tdInfo.servTdHash, 48, 0x68));
  t.end();
});

void t.test('parseTdReport refuses wrong sizes and non-TDX report types, never crashes', (t) => {
  t.throws(() => parseTdReport(new Uint8Array(1023)), { code: ErrorCode.ATTEST_PARSE, message: /expected 1024 bytes, got 1023/ });
  t.throws(() => parseTdReport(new Uint8Array(1024)), { code: ErrorCode.ATTEST_PARSE, message: /REPORTTYPE.TYPE is 0x0/ });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1100 }), (b) => {
      try {
        parseTdReport(b);
      } catch (err) {
        if (!(err instanceof CcmeshError) || err.code !== ErrorCode.ATTEST_PARSE) throw err;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.end();
});

void t.test('readTdReport through a fake device: parsed, REPORTDATA checked, device closed', async (t) => {
  const dev = new FakeTdxGuestDevice(DEV, (rd) => syntheticTdReport(rd));
  const rd = reportDataOf(4);
  const { bytes, report } = await readTdReport(rd, { openDevice: fakeDeviceOpener({ [DEV]: dev }) });
  t.equal(bytes.length, 1024);
  t.ok(bytesEqual(report.reportData, rd));
  t.ok(dev.closed);

  const liar = new FakeTdxGuestDevice(DEV, () => syntheticTdReport(reportDataOf(5)));
  await t.rejects(readTdReport(rd, { openDevice: fakeDeviceOpener({ [DEV]: liar }) }), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /REPORTDATA .* not the requested/ });
  t.ok(liar.closed);
});

void t.test('the tdx-guest issuer: missing device names the path; a present one explains a TD report is not a quote', async (t) => {
  await t.rejects(new TdxGuestIssuer({ device: '/nope/tdx_guest', openDevice: fakeDeviceOpener({}) }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    message: /^\/nope\/tdx_guest is not usable: it does not exist \(it needs an Intel TDX guest/,
  });
  const dev = new FakeTdxGuestDevice(DEV, syntheticTdReport);
  await t.rejects(new TdxGuestIssuer({ openDevice: fakeDeviceOpener({ [DEV]: dev }) }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    message: /\/dev\/tdx_guest only yields a TDREPORT, and a TD report is not a quote: it is MAC-protected for the local quoting enclave and can not be verified remotely\. TDX quotes come from configfs-tsm \(provider tdx_guest/,
  });
  t.ok(dev.closed);
});
