import t from 'tap';
import { bytesEqual } from '../../lib/bytes.js';
import { ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { encodeCertTable } from './cert-table.js';
import { ConfigfsTsmIssuer, probeConfigfsTsm, TSM_OUTBLOB_MAX } from './configfs-tsm.js';
import type { TsmGenerator } from '../../test/support/attestation/fake-tsm-fs.js';
import { FakeTsmFs } from '../../test/support/attestation/fake-tsm-fs.js';
import { milanCertificates, reportDataOf, snpReportWith, tdxQuoteWith } from '../../test/support/attestation/issuers.js';

const ROOT = '/sys/kernel/config/tsm/report';
const CERTS = milanCertificates();
const AUX = encodeCertTable(CERTS);

/** An SNP platform: the report answers the inblob (and privlevel as VMPL); the host supplies the Milan chain. */
const snp: TsmGenerator = (inblob, privlevel) => ({ outblob: snpReportWith(inblob, privlevel ?? 0), auxblob: AUX });
const tdx: TsmGenerator = (inblob) => ({ outblob: tdxQuoteWith(inblob) });

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ component: 'test', level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

void t.test('sev_guest: report with our REPORT_DATA, certificates from auxblob, entry removed', async (t) => {
  const fs = new FakeTsmFs({ generate: snp });
  const issuer = new ConfigfsTsmIssuer({}, { fs });
  const rd = reportDataOf(7);
  const ev = await issuer.issue(rd);
  t.equal(ev.format, 'snp');
  if (ev.format !== 'snp') return;
  t.equal(ev.source, 'configfs-tsm');
  t.ok(bytesEqual(ev.report.subarray(0x50, 0x90), rd));
  t.same(ev.certificates, CERTS);
  t.equal(fs.entries.size, 0, 'entry removed');
  t.equal(fs.created.length, 1);
  t.match(fs.created[0], /^ccmesh-\d+-[0-9a-f]{16}$/);
  t.equal(fs.generations, 1, 'outblob and auxblob came from one generation');
});

void t.test('tdx_guest: the outblob is a quote with our REPORTDATA', async (t) => {
  const fs = new FakeTsmFs({ generate: tdx, provider: 'tdx_guest' });
  const ev = await new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf(3));
  t.equal(ev.format, 'tdx');
  if (ev.format === 'tdx') t.ok(bytesEqual(ev.quote.subarray(0x238, 0x278), reportDataOf(3)));
  t.equal(fs.entries.size, 0);
});

void t.test('privlevel is written for SNP and the report must state that VMPL', async (t) => {
  const seen: (number | undefined)[] = [];
  const fs = new FakeTsmFs({
    generate: (i, p) => {
      seen.push(p);
      return snp(i, p);
    },
  });
  const ev = await new ConfigfsTsmIssuer({ privlevel: 2 }, { fs }).issue(reportDataOf());
  t.same(seen, [2]);
  t.equal(ev.format === 'snp' && new DataView(ev.report.buffer).getUint32(0x30, true), 2);

  const liar = new FakeTsmFs({ generate: (i) => snp(i, 0) });
  await t.rejects(new ConfigfsTsmIssuer({ privlevel: 1 }, { fs: liar }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /VMPL 0, not the requested 1/ });
  t.equal(liar.entries.size, 0);

  const onTdx = new FakeTsmFs({ generate: tdx, provider: 'tdx_guest' });
  await t.rejects(new ConfigfsTsmIssuer({ privlevel: 1 }, { fs: onTdx }).issue(reportDataOf()), { code: ErrorCode.CONFIG_INVALID, message: /sev_guest only/ });
  t.equal(onTdx.entries.size, 0);
  t.throws(() => new ConfigfsTsmIssuer({ privlevel: 4 }), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => new ConfigfsTsmIssuer({ maxAttempts: 0 }), { code: ErrorCode.CONFIG_INVALID });
});

void t.test('an unknown provider is named in the error', async (t) => {
  const fs = new FakeTsmFs({ generate: snp, provider: 'arm_cca_guest' });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /provider "arm_cca_guest"/ });
  t.equal(fs.entries.size, 0);
  t.equal(fs.generations, 0, 'nothing was requested');
});

void t.test('a concurrent writer is detected by generation, retried, and reported when it persists', async (t) => {
  const racer = (times: number, sameBytes: boolean) => {
    let left = times;
    return async ({ entry, attribute, fs }: { entry: string; attribute: string; fs: FakeTsmFs }) => {
      if (attribute !== 'outblob' || left === 0) return;
      left--;
      await fs.raceWrite(entry, sameBytes ? reportDataOf(1) : reportDataOf(99));
    };
  };
  const once = new FakeTsmFs({ generate: snp });
  once.onRead = racer(1, false);
  const { lines, logger } = capture();
  const ev = await new ConfigfsTsmIssuer({}, { fs: once, logger }).issue(reportDataOf(1));
  t.ok(ev.format === 'snp' && bytesEqual(ev.report.subarray(0x50, 0x90), reportDataOf(1)));
  t.equal(once.created.length, 2, 'second attempt used a fresh entry');
  t.equal(once.entries.size, 0, 'both entries removed');
  t.match(lines, [{ level: 'warn', msg: /raced another writer/, attempt: 1 }]);

  // Even a racer writing identical bytes is caught: only the counter can tell.
  const always = new FakeTsmFs({ generate: snp });
  always.onRead = racer(Infinity, true);
  await t.rejects(new ConfigfsTsmIssuer({ maxAttempts: 3 }, { fs: always }).issue(reportDataOf(1)), {
    code: ErrorCode.ATTEST_ISSUER_CONCURRENT,
    message: /another writer changed report entry .* \(generation 2, expected 1 after our 1 write\(s\)\); tried 3 time/,
  });
  t.equal(always.created.length, 3);
  t.equal(always.entries.size, 0);
});

void t.test('outblob that is not what we asked for is refused', async (t) => {
  const cases: [string, TsmGenerator, RegExp][] = [
    ['stale report data', () => ({ outblob: snpReportWith(reportDataOf(50)) }), /REPORT_DATA .* not the requested/],
    ['not a report', () => ({ outblob: new Uint8Array(100) }), /100 bytes that are not an SNP attestation report/],
    ['empty', () => ({ outblob: new Uint8Array(0) }), /not an SNP attestation report/],
    ['malformed auxblob', (i) => ({ outblob: snpReportWith(i), auxblob: new Uint8Array(30).fill(1) }), /certificate table in auxblob is malformed/],
    ['kernel refuses > 32 KiB', () => ({ outblob: new Uint8Array(TSM_OUTBLOB_MAX + 1) }), /reading .*outblob failed: EFBIG/],
  ];
  for (const [name, generate, message] of cases) {
    const fs = new FakeTsmFs({ generate });
    await t.rejects(new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_FAILED, message }, name);
    t.equal(fs.entries.size, 0, `${name}: entry removed`);
  }
  const tdxWrong = new FakeTsmFs({ generate: () => ({ outblob: tdxQuoteWith(reportDataOf(9)) }), provider: 'tdx_guest' });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs: tdxWrong }).issue(reportDataOf()), { message: /REPORTDATA .* not the requested/ });
  const notQuote = new FakeTsmFs({ generate: (i) => ({ outblob: snpReportWith(i) }), provider: 'tdx_guest' });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs: notQuote }).issue(reportDataOf()), { message: /not a TDX quote/ });
});

void t.test('an outblob above 32 KiB is refused even when the filesystem hands it over', async (t) => {
  class Oversized extends FakeTsmFs {
    override async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
      const b = await super.readFile(path, maxBytes);
      return path.endsWith('/outblob') ? new Uint8Array(maxBytes + 1) : b;
    }
  }
  const fs = new Oversized({ generate: snp });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_FAILED, message: /larger than 32768 bytes/ });
  t.equal(fs.entries.size, 0);
});

void t.test('an empty or absent auxblob means no certificates', async (t) => {
  const fs = new FakeTsmFs({ generate: (i) => ({ outblob: snpReportWith(i) }) });
  const ev = await new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf());
  t.same(ev.format === 'snp' && ev.certificates, {});
  class NoAux extends FakeTsmFs {
    override async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
      if (path.endsWith('/auxblob')) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return super.readFile(path, maxBytes);
    }
  }
  const ev2 = await new ConfigfsTsmIssuer({}, { fs: new NoAux({ generate: snp }) }).issue(reportDataOf());
  t.same(ev2.format === 'snp' && ev2.certificates, {});
});

void t.test('a missing root or provider is ATTEST_ISSUER_UNAVAILABLE naming the path', async (t) => {
  const none = new FakeTsmFs({ generate: snp, rootExists: false });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs: none }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    message: `configfs-tsm is not available at ${ROOT}: the directory does not exist (it needs Linux >= 6.7 with the tsm module (CONFIG_TSM_REPORTS) and a TEE guest driver loaded, and configfs mounted at /sys/kernel/config)`,
  });
  const noProvider = new FakeTsmFs({ generate: snp, mkdirErrno: 'ENXIO' });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs: noProvider }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /no TEE guest driver/ });
  const denied = new FakeTsmFs({ generate: snp, mkdirErrno: 'EACCES' });
  await t.rejects(new ConfigfsTsmIssuer({}, { fs: denied }).issue(reportDataOf()), { code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE, message: /refused \(EACCES\).*needs root/ });
});

void t.test('report data must be 64 bytes; nothing is created otherwise', async (t) => {
  const fs = new FakeTsmFs({ generate: snp });
  const issuer = new ConfigfsTsmIssuer({}, { fs });
  await t.rejects(issuer.issue(new Uint8Array(63)), { code: ErrorCode.INPUT_MALFORMED, message: /exactly 64 bytes, got 63 bytes/ });
  await t.rejects(issuer.issue('x' as unknown as Uint8Array), { code: ErrorCode.INPUT_MALFORMED });
  t.equal(fs.created.length, 0);
});

void t.test('abort: nothing is requested and the entry is still removed', async (t) => {
  const fs = new FakeTsmFs({ generate: snp });
  const ac = new AbortController();
  fs.onRead = ({ attribute }) => {
    if (attribute === 'generation') ac.abort(new Error('shutting down'));
  };
  await t.rejects(new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf(), ac.signal), { message: 'shutting down' });
  t.equal(fs.entries.size, 0);
  t.equal(fs.generations, 0);
  await t.rejects(new ConfigfsTsmIssuer({}, { fs }).issue(reportDataOf(), AbortSignal.abort()), { name: 'AbortError' });
});

void t.test('an rmdir failure is logged, not thrown over the result', async (t) => {
  class StickyFs extends FakeTsmFs {
    override rmdir(): Promise<void> {
      return Promise.reject(Object.assign(new Error('EBUSY'), { code: 'EBUSY' }));
    }
  }
  const { lines, logger } = capture();
  const ev = await new ConfigfsTsmIssuer({}, { fs: new StickyFs({ generate: snp }), logger }).issue(reportDataOf());
  t.equal(ev.format, 'snp');
  t.match(lines, [{ level: 'warn', msg: 'configfs-tsm report entry could not be removed' }]);
});

void t.test('probeConfigfsTsm reports usability as data', async (t) => {
  const ok = new FakeTsmFs({ generate: snp });
  t.same(await probeConfigfsTsm(ROOT, ok), { ok: true, provider: 'sev_guest' });
  t.equal(ok.entries.size, 0, 'probe entry removed');
  t.match(await probeConfigfsTsm(ROOT, new FakeTsmFs({ generate: snp, rootExists: false })), { ok: false, reason: /not available at \/sys\/kernel\/config\/tsm\/report/ });
  t.match(await probeConfigfsTsm(ROOT, new FakeTsmFs({ generate: snp, mkdirErrno: 'ENXIO' })), { ok: false, reason: /no TEE guest driver/ });
  t.match(await probeConfigfsTsm(ROOT, new FakeTsmFs({ generate: snp, provider: 'x' })), { ok: false, reason: /provider "x"/ });
});

void t.test('FakeTsmFs follows the kernel rules the issuer relies on', async (t) => {
  const fs = new FakeTsmFs({ generate: snp, privlevelFloor: 1 });
  const e = `${ROOT}/e`;
  await fs.mkdir(e);
  await t.rejects(fs.mkdir(e), { code: 'EEXIST' });
  await t.rejects(fs.mkdir(`${e}/sub`), { code: 'EPERM' });
  t.equal(Buffer.from(await fs.readFile(`${e}/generation`, 100)).toString(), '0\n');
  await t.rejects(fs.readFile(`${e}/outblob`, TSM_OUTBLOB_MAX), { code: 'EINVAL' }, 'no inblob yet');
  await t.rejects(fs.writeFile(`${e}/inblob`, new Uint8Array(65)), { code: 'EFBIG' });
  await t.rejects(fs.writeFile(`${e}/privlevel`, Buffer.from('0')), { code: 'EINVAL' }, 'below the floor');
  await t.rejects(fs.writeFile(`${e}/privlevel`, Buffer.from('4')), { code: 'EINVAL' });
  await t.rejects(fs.writeFile(`${e}/outblob`, new Uint8Array(1)), { code: 'EACCES' });
  await t.rejects(fs.readFile(`${e}/inblob`, 64), { code: 'EACCES' });
  await t.rejects(fs.readFile(`${e}/nonsense`, 64), { code: 'ENOENT' });
  await fs.writeFile(`${e}/privlevel`, Buffer.from('1\n'));
  await fs.writeFile(`${e}/inblob`, reportDataOf());
  t.equal(Buffer.from(await fs.readFile(`${e}/generation`, 100)).toString(), '2\n', 'each write bumps the generation');
  const a = await fs.readFile(`${e}/outblob`, TSM_OUTBLOB_MAX);
  const b = await fs.readFile(`${e}/auxblob`, TSM_OUTBLOB_MAX);
  t.equal(fs.generations, 1, 'cached until the inputs change');
  t.equal(a.length, 0x4a0);
  t.same(b, AUX);
  t.equal((await fs.readFile(`${e}/outblob`, 10)).length, 11, 'reads are bounded to max + 1');
  t.ok(await fs.isDirectory(e));
  await fs.rmdir(e);
  t.notOk(await fs.isDirectory(e));
  await t.rejects(fs.rmdir(e), { code: 'ENOENT' });
  await t.rejects(fs.mkdir('/elsewhere/x'), { code: 'ENOENT' });
});
