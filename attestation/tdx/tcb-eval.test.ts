import t from 'tap';
import { readSample } from '../../test/fixtures.js';
import { parsePckChain } from './pck-chain.js';
import type { PckExtensions } from './pck-extensions.js';
import { parseTdxQuote, type TdReportBody } from './quote.js';
import { evaluateQeIdentity, evaluateTdxTcb } from './tcb-eval.js';
import { readQeIdentityDocument, readTcbInfoDocument, type TcbInfo, type TdxTcbLevel } from './tcb-info.js';
import { quoteFacts } from '../../test/support/attestation/tdx.js';

interface TcbFactResult {
  readonly tdx_tcb_status: string | null;
  readonly tdx_tcb_date: string | null;
  readonly qe_tcb_status: string;
  readonly tdx_module_identity_id?: string;
}

/** The TCB evaluation facts.json recorded for a quote (computed by an independent re-implementation). */
function tcbFact(rel: string): { result: TcbFactResult; tcbInfo: string; qeIdentity: string } {
  const checks = (quoteFacts(rel) as unknown as { checks: { check: string; result?: TcbFactResult }[] }).checks;
  const c = checks.find((x) => x.result && x.check.startsWith('TCB evaluation against'));
  if (!c?.result) throw new Error(`no TCB evaluation fact for ${rel}`);
  const files = [...c.check.matchAll(/tdx\/collateral\/(\S+\.json)/g)].map((m) => m[1]!);
  return { result: c.result, tcbInfo: files.find((f) => f.startsWith('tcbinfo'))!, qeIdentity: files.find((f) => f.startsWith('qeidentity'))! };
}

for (const rel of ['tdx/quote-v4-gtg-spr-e4.dat', 'tdx/quote-v4-trustee-q4.dat', 'tdx/quote-v5-gtg-sample.dat']) {
  void t.test(`TCB evaluation of ${rel} matches facts.json`, (t) => {
    const { result, tcbInfo, qeIdentity } = tcbFact(rel);
    const quote = parseTdxQuote(readSample(rel));
    const pck = parsePckChain(quote.signatureData.pckChainPem).extensions!;
    const info = readTcbInfoDocument(readSample(`tdx/collateral/${tcbInfo}`), tcbInfo).parsed;
    const ev = evaluateTdxTcb(info, quote.body, pck);
    t.same(ev.reasons, [], 'FMSPC, PCE-ID and TDX module match');
    t.equal(ev.status, result.tdx_tcb_status ?? 'NoMatchingTcbLevel');
    t.not(result.tdx_tcb_status === null && ev.status === 'UpToDate', true, 'no matching level is never UpToDate');
    t.equal(ev.tcbDate ?? null, result.tdx_tcb_date);
    t.equal(ev.moduleIdentity, result.tdx_module_identity_id);
    const qe = readQeIdentityDocument(readSample(`tdx/collateral/${qeIdentity}`), qeIdentity).parsed;
    const qev = evaluateQeIdentity(qe, quote.signatureData.qeReport);
    t.same(qev.reasons, []);
    t.equal(qev.status, result.qe_tcb_status);
    t.end();
  });
}

// Synthetic inputs for the rules the samples don't reach.
const zeros = (n: number): Uint8Array => new Uint8Array(n);
function body(teeTcbSvn: number[]): TdReportBody {
  const svn = new Uint8Array(16);
  svn.set(teeTcbSvn);
  return {
    layout: 2, teeTcbSvn: svn, mrSeam: zeros(48), mrSignerSeam: zeros(48), seamAttributes: zeros(8), tdAttributes: zeros(8),
    xfam: zeros(8), mrTd: zeros(48), mrConfigId: zeros(48), mrOwner: zeros(48), mrOwnerConfig: zeros(48),
    rtmr: [zeros(48), zeros(48), zeros(48), zeros(48)], reportData: zeros(64),
  };
}
function pck(sgx: number, pceSvn: number): PckExtensions {
  return { ppid: zeros(16), tcb: { sgxTcbComponents: new Array<number>(16).fill(sgx), pceSvn, cpuSvn: zeros(16) }, pceId: zeros(2), fmspc: Uint8Array.from([1, 2, 3, 4, 5, 6]), sgxType: 0 };
}
function level(sgx: number, pceSvn: number, tdx: number[], tcbStatus: TdxTcbLevel['tcbStatus'], advisoryIds: string[] = []): TdxTcbLevel {
  const tdxComponents = new Array<number>(16).fill(0);
  tdx.forEach((v, i) => (tdxComponents[i] = v));
  return { sgxComponents: new Array<number>(16).fill(sgx), pceSvn, tdxComponents, tcbStatus, tcbDate: '2024-01-01T00:00:00Z', advisoryIds };
}
const module0 = { id: 'tdxModule', mrSigner: zeros(48), attributes: zeros(8), attributesMask: new Uint8Array(8).fill(0xff), tcbLevels: [] };
function info(levels: TdxTcbLevel[], extra: Partial<TcbInfo> = {}): TcbInfo {
  return {
    id: 'TDX', version: 3, issueDate: new Date(0), nextUpdate: new Date(0), fmspc: '010203040506', pceId: '0000',
    tcbEvaluationDataNumber: 1, tdxModule: module0, tdxModuleIdentities: [], tcbLevels: levels, ...extra,
  };
}

void t.test('the first level with every component >= decides; each Intel status passes through', (t) => {
  const levels = [level(5, 10, [3, 0, 5], 'UpToDate'), level(4, 10, [3, 0, 4], 'SWHardeningNeeded', ['INTEL-SA-1']), level(0, 0, [], 'OutOfDate', ['INTEL-SA-2'])];
  t.equal(evaluateTdxTcb(info(levels), body([3, 0, 5]), pck(5, 10)).status, 'UpToDate');
  const sw = evaluateTdxTcb(info(levels), body([3, 0, 4]), pck(5, 10));
  t.equal(sw.status, 'SWHardeningNeeded');
  t.same(sw.advisoryIds, ['INTEL-SA-1']);
  t.equal(evaluateTdxTcb(info(levels), body([3, 0, 5]), pck(5, 9)).status, 'OutOfDate', 'PCESVN below both upper levels');
  t.equal(evaluateTdxTcb(info(levels), body([2, 0, 9]), pck(9, 99)).status, 'OutOfDate', 'TDX module SVN (index 0) below');
  for (const s of ['ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded', 'Revoked'] as const) {
    t.equal(evaluateTdxTcb(info([level(0, 0, [], s)]), body([]), pck(0, 0)).status, s);
  }
  t.end();
});

void t.test('below every level is NoMatchingTcbLevel, never a status', (t) => {
  const ev = evaluateTdxTcb(info([level(5, 10, [3], 'UpToDate')]), body([3]), pck(4, 10));
  t.equal(ev.status, 'NoMatchingTcbLevel');
  t.equal(ev.tcbDate, undefined);
  t.end();
});

void t.test('FMSPC / PCE-ID / TDX module mismatches are reasons', (t) => {
  t.match(evaluateTdxTcb(info([], { fmspc: '0a0b0c0d0e0f' }), body([]), pck(0, 0)).reasons.join(), /FMSPC 0a0b0c0d0e0f.*010203040506/);
  t.equal(evaluateTdxTcb(info([], { fmspc: '0a0b0c0d0e0f' }), body([]), pck(0, 0)).status, 'not_evaluated');
  t.match(evaluateTdxTcb(info([], { pceId: '0100' }), body([]), pck(0, 0)).reasons.join(), /PCE-ID/);
  t.match(evaluateTdxTcb(info([], { id: 'SGX', version: 3 }), body([]), pck(0, 0)).reasons.join(), /SGX version 3/);
  const b = { ...body([]), mrSignerSeam: new Uint8Array(48).fill(1), seamAttributes: Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]) };
  const r = evaluateTdxTcb(info([level(0, 0, [], 'UpToDate')]), b, pck(0, 0)).reasons.join('\n');
  t.match(r, /MRSIGNERSEAM/);
  t.match(r, /SEAMATTRIBUTES/);
  t.end();
});

void t.test('TEE_TCB_SVN[1] != 0: module identity by major version, platform from index 2, statuses converge', (t) => {
  const identity = (levels: [number, TdxTcbLevel['tcbStatus']][]): TcbInfo['tdxModuleIdentities'][number] => ({
    ...module0,
    id: 'TDX_01',
    tcbLevels: levels.map(([isvSvn, tcbStatus]) => ({ isvSvn, tcbStatus, tcbDate: undefined, advisoryIds: tcbStatus === 'UpToDate' ? [] : ['INTEL-SA-M'] })),
  });
  // Index 0 would fail (svn 2 < 9) but is skipped: the module is judged by its identity instead.
  const levels = [level(1, 1, [9, 9, 3], 'UpToDate'), level(1, 1, [9, 9, 2], 'ConfigurationNeeded')];
  const up = evaluateTdxTcb(info(levels, { tdxModuleIdentities: [identity([[6, 'UpToDate'], [2, 'OutOfDate']])] }), body([6, 1, 3]), pck(1, 1));
  t.equal(up.status, 'UpToDate');
  t.equal(up.moduleIdentity, 'TDX_01');
  const old = evaluateTdxTcb(info(levels, { tdxModuleIdentities: [identity([[6, 'UpToDate'], [2, 'OutOfDate']])] }), body([3, 1, 3]), pck(1, 1));
  t.equal(old.status, 'OutOfDate', 'an out-of-date module makes an up-to-date platform out of date');
  t.same(old.advisoryIds, ['INTEL-SA-M']);
  const cfg = evaluateTdxTcb(info(levels, { tdxModuleIdentities: [identity([[2, 'OutOfDate']])] }), body([3, 1, 2]), pck(1, 1));
  t.equal(cfg.status, 'OutOfDateConfigurationNeeded');
  const revoked = evaluateTdxTcb(info(levels, { tdxModuleIdentities: [identity([[0, 'Revoked']])] }), body([3, 1, 3]), pck(1, 1));
  t.equal(revoked.status, 'Revoked');
  const below = evaluateTdxTcb(info(levels, { tdxModuleIdentities: [identity([[6, 'UpToDate']])] }), body([3, 1, 3]), pck(1, 1));
  t.equal(below.status, 'NoMatchingTcbLevel');
  const missing = evaluateTdxTcb(info(levels), body([3, 2, 3]), pck(1, 1));
  t.equal(missing.status, 'NoMatchingTcbLevel');
  t.match(missing.reasons.join(), /no TDX module identity TDX_02/);
  t.end();
});

void t.test('QE identity: MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES and the ISVSVN level', (t) => {
  const rel = 'tdx/quote-v4-trustee-q4.dat';
  const qe = parseTdxQuote(readSample(rel)).signatureData.qeReport;
  const ident = readQeIdentityDocument(readSample('tdx/collateral/qeidentity-td_qe-2023-06-08.json'), 'qe').parsed;
  t.equal(evaluateQeIdentity({ ...ident, isvProdId: 1 }, qe).reasons.length, 1);
  t.match(evaluateQeIdentity({ ...ident, mrSigner: new Uint8Array(32) }, qe).reasons.join(), /MRSIGNER/);
  t.match(evaluateQeIdentity({ ...ident, miscSelect: 1 }, qe).reasons.join(), /MISCSELECT/);
  t.match(evaluateQeIdentity({ ...ident, attributes: new Uint8Array(16).fill(0xff) }, qe).reasons.join(), /ATTRIBUTES/);
  t.match(evaluateQeIdentity({ ...ident, id: 'QE' }, qe).reasons.join(), /TD_QE/);
  const levels = [
    { isvSvn: 8, tcbStatus: 'UpToDate' as const, tcbDate: undefined, advisoryIds: [] },
    { isvSvn: 4, tcbStatus: 'OutOfDate' as const, tcbDate: undefined, advisoryIds: ['INTEL-SA-Q'] },
  ];
  const ev = evaluateQeIdentity({ ...ident, tcbLevels: levels }, qe);
  t.equal(ev.status, 'OutOfDate');
  t.same(ev.advisoryIds, ['INTEL-SA-Q']);
  t.equal(evaluateQeIdentity({ ...ident, tcbLevels: [levels[0]!] }, qe).status, 'NoMatchingTcbLevel');
  t.end();
});
