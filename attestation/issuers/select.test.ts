import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { bytesEqual } from '../../lib/bytes.js';
import { ErrorCode } from '../../lib/errors.js';
import type { Evidence, EvidenceIssuer } from './evidence.js';
import { FakeSevGuestDevice, FakeTdxGuestDevice, fakeDeviceOpener } from '../../test/support/attestation/fake-guest-device.js';
import { FakeTsmFs } from '../../test/support/attestation/fake-tsm-fs.js';
import { createIssuer, NoIssuerError } from './select.js';
import { reportDataOf, snpReportWith, tdxQuoteWith } from '../../test/support/attestation/issuers.js';

const ROOT = '/sys/kernel/config/tsm/report';
const SEV = '/dev/sev-guest';
const TDX = '/dev/tdx_guest';

const snpTsm = (provider = 'sev_guest'): FakeTsmFs =>
  new FakeTsmFs({ provider, generate: (i, p) => ({ outblob: provider === 'tdx_guest' ? tdxQuoteWith(i) : snpReportWith(i, p ?? 0) }) });
const noTsm = (): FakeTsmFs => new FakeTsmFs({ rootExists: false, generate: () => ({ outblob: new Uint8Array(0) }) });
const sevDevice = (): FakeSevGuestDevice => new FakeSevGuestDevice(SEV, { report: snpReportWith });
const tdxDevice = (): FakeTdxGuestDevice => new FakeTdxGuestDevice(TDX, () => new Uint8Array(1024));

/** A simulated-issuer factory that records whether anything called it. */
function simulatedSpy(): { calls: number; factory: () => Promise<EvidenceIssuer> } {
  const spy = {
    calls: 0,
    factory: async (): Promise<EvidenceIssuer> => {
      spy.calls++;
      return { name: 'simulated', issue: (): Promise<Evidence> => Promise.reject(new Error('unused')) };
    },
  };
  return spy;
}

void t.test('auto prefers configfs-tsm and the chosen issuer works', async (t) => {
  const fs = snpTsm();
  const openDevice = fakeDeviceOpener({ [SEV]: sevDevice() });
  const issuer = await createIssuer('auto', { vmpl: 1 }, { tsmFs: fs, openDevice });
  t.equal(issuer.name, 'configfs-tsm');
  t.same(openDevice.opened, [], 'devices were not even opened');
  const ev = await issuer.issue(reportDataOf(3));
  t.ok(ev.format === 'snp' && bytesEqual(ev.report.subarray(0x50, 0x90), reportDataOf(3)));
  t.equal(ev.format === 'snp' && new DataView(ev.report.buffer).getUint32(0x30, true), 1, 'vmpl became privlevel');
  t.equal(fs.entries.size, 0, 'probe and request entries removed');

  const tdxFs = snpTsm('tdx_guest');
  const onTdx = await createIssuer('auto', { vmpl: 1 }, { tsmFs: tdxFs, openDevice });
  const q = await onTdx.issue(reportDataOf(4));
  t.equal(q.format, 'tdx', 'a VMPL setting does not break TDX through configfs');
});

void t.test('auto falls back to /dev/sev-guest', async (t) => {
  const dev = sevDevice();
  const issuer = await createIssuer('auto', { vmpl: 0 }, { tsmFs: noTsm(), openDevice: fakeDeviceOpener({ [SEV]: dev }) });
  t.equal(issuer.name, 'sev-guest');
  const ev = await issuer.issue(reportDataOf(6));
  t.ok(ev.format === 'snp' && bytesEqual(ev.report.subarray(0x50, 0x90), reportDataOf(6)));
});

void t.test('auto with only /dev/tdx_guest explains why a TD report is not enough', async (t) => {
  const err = await createIssuer('auto', {}, { tsmFs: noTsm(), openDevice: fakeDeviceOpener({ [TDX]: tdxDevice() }) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof NoIssuerError);
  if (!(err instanceof NoIssuerError)) return;
  t.equal(err.code, ErrorCode.ATTEST_ISSUER_UNAVAILABLE);
  t.same(
    err.attempts.map((a) => [a.issuer, a.path]),
    [
      ['configfs-tsm', ROOT],
      ['sev-guest', SEV],
      ['tdx-guest', TDX],
    ],
  );
  t.match(err.attempts[2]?.reason, /a TD report is not a quote/);
});

void t.test('auto with nothing lists every path and why; never the simulated TEE', async (t) => {
  const sim = simulatedSpy();
  const paths = { configfsRoot: '/fake/tsm', sevGuest: '/fake/sev', tdxGuest: '/fake/tdx' };
  await t.rejects(createIssuer('auto', paths, { tsmFs: new FakeTsmFs({ root: '/fake/tsm', rootExists: false, generate: () => ({ outblob: new Uint8Array(0) }) }), openDevice: fakeDeviceOpener({}), simulated: sim.factory }), {
    code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    message: new RegExp(
      [
        '^no evidence issuer is usable here .*the simulated TEE is never chosen automatically\\):',
        '  configfs-tsm \\(/fake/tsm\\): configfs-tsm is not available at /fake/tsm: the directory does not exist',
        '  sev-guest \\(/fake/sev\\): /fake/sev is not usable: it does not exist \\(it needs an SEV-SNP guest',
        '  tdx-guest \\(/fake/tdx\\): /fake/tdx is not usable: it does not exist \\(it needs an Intel TDX guest',
      ].join('.*\\n'),
    ),
  });
  t.equal(sim.calls, 0, 'SECURITY: auto never builds the simulated issuer');
});

void t.test('auto against the real filesystem and devices at absent paths fails cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-select-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const paths = { configfsRoot: join(dir, 'tsm'), sevGuest: join(dir, 'sev-guest'), tdxGuest: join(dir, 'tdx_guest') };
  const err = await createIssuer('auto', paths).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof NoIssuerError);
  t.same(err instanceof NoIssuerError && err.attempts.map((a) => a.path), [paths.configfsRoot, paths.sevGuest, paths.tdxGuest]);
});

void t.test('explicit kinds fail early with ATTEST_ISSUER_UNAVAILABLE', async (t) => {
  const none = { tsmFs: noTsm(), openDevice: fakeDeviceOpener({}) };
  await t.rejects(createIssuer('configfs', {}, none), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /^configfs-tsm is not available at \/sys\/kernel\/config\/tsm\/report/ });
  await t.rejects(createIssuer('sev-guest', {}, none), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /^\/dev\/sev-guest is not usable/ });
  await t.rejects(createIssuer('tdx-guest', {}, none), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /^\/dev\/tdx_guest is not usable/ });
  await t.rejects(createIssuer('tdx-guest', {}, { openDevice: fakeDeviceOpener({ [TDX]: tdxDevice() }) }), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /TD report is not a quote/ });
  await t.rejects(createIssuer('configfs', {}, { tsmFs: snpTsm('other') }), { message: /provider "other"/ });
  t.equal((await createIssuer('sev-guest', {}, { openDevice: fakeDeviceOpener({ [SEV]: sevDevice() }) })).name, 'sev-guest');
  t.equal((await createIssuer('configfs', {}, { tsmFs: snpTsm() })).name, 'configfs-tsm');
});

void t.test('simulated only by name, and only with a factory', async (t) => {
  const sim = simulatedSpy();
  t.equal((await createIssuer('simulated', {}, { simulated: sim.factory })).name, 'simulated');
  t.equal(sim.calls, 1);
  await t.rejects(createIssuer('simulated'), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /did not provide one/ });
  await t.rejects(createIssuer('bogus' as 'auto'), { code: ErrorCode.USAGE, message: /unknown issuer kind "bogus"/ });
});
