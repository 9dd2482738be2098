/**
 * TDX evidence at the Coordinator, with the real quotes and Intel collateral in testdata (facts.json times):
 * with collateral the TCB status is evaluated and judged by each manifest alternative's acceptableTcbStatuses;
 * without collateral TDX evidence is refused unless the alternative says allowUnevaluatedTcb; collateral from a
 * directory, from a collateral source (the fetcher/cache interface, served offline here) and through the
 * Coordinator process wiring.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollateralSource, IntelPckCa } from '../../attestation/fetch/collateral-source.js';
import { COLLATERAL_2023, fixedNow, quoteFacts } from '../../test/support/attestation/tdx.js';
import { FixedClock } from '../../lib/clock.js';
import { tokeniseFlags } from '../../lib/config/argv.js';
import { FieldReader } from '../../lib/config/fields.js';
import { ConfigError } from '../../lib/errors.js';
import { attestationSample, readSample } from '../../test/fixtures.js';
import { COORDINATOR_FLAGS, readCoordinatorConfig } from '../../coordinator/config.js';
import { buildManifestDocument } from '../manifest/document.js';
import { parseManifestValue } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { EvidenceChecker } from './evidence-check.js';
import { DirectoryTdxCollateral, SourcedTdxCollateral, type TdxCollateralProvider } from './tdx-collateral.js';

const TRUSTEE = 'tdx/quote-v4-trustee-q4.dat'; // with the 2023 collateral: UpToDate / UpToDate; a debug TD
const SPR = 'tdx/quote-v4-gtg-spr-e4.dat'; // same FMSPC: no matching TCB level
const AT = fixedNow(TRUSTEE); // 2023-07-01T01:00:00Z, inside every 2023 document's window
const trustee = quoteFacts(TRUSTEE).td_report_body;
const spr = quoteFacts(SPR).td_report_body;
const POLICY = trustee['mr_config_id']!.slice(0, 64); // MRCONFIGID[0:32]: all zero in both samples

/** A manifest trusting TDX with one alternative (the samples' MRTDs, debug allowed: the trustee TD is one). */
function manifestWith(tdx: Record<string, unknown>): Manifest {
  return parseManifestValue(buildManifestDocument({
    workloadOwnerKeys: [],
    seedshareOwnerKeys: [],
    tdx: [{ mrTd: [trustee['mr_td'], spr['mr_td']], allowDebug: true, ...tdx }],
    policies: [{ policyHash: POLICY, sans: ['td'], workloadSecretId: 'td' }],
  }));
}

/** A temp directory holding the 2023 collateral files (and whatever `extra` adds). */
function collateralDir(t: { teardown(fn: () => void): void }, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tdx-collateral-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of COLLATERAL_2023) copyFileSync(attestationSample(`tdx/collateral/${name}`), join(dir, name));
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  return dir;
}

async function check(checker: EvidenceChecker, m: Manifest, rel: string) {
  const expected = Buffer.from(quoteFacts(rel).td_report_body['report_data']!, 'hex');
  return checker.checkWithCollateral(m, { format: 'tdx', quote: readSample(rel) }, expected, AT);
}

void t.test('with collateral: an UpToDate TD passes an alternative that accepts UpToDate (the default)', async (t) => {
  const collateral = await DirectoryTdxCollateral.open(collateralDir(t), { clock: new FixedClock(AT) });
  const v = await check(new EvidenceChecker({ tdxCollateral: collateral }), manifestWith({}), TRUSTEE);
  t.same(v.ok ? [] : v.reasons, []);
  t.match(v, { ok: true, peer: { policyHash: POLICY, format: 'tdx', anchor: 'intel', tcbStatus: 'UpToDate' } }, 'accepted with its TCB status evaluated');
  t.end();
});

void t.test('with collateral: a TCB status the alternative does not accept is refused, naming the status', async (t) => {
  const checker = new EvidenceChecker({ tdxCollateral: await DirectoryTdxCollateral.open(collateralDir(t), { clock: new FixedClock(AT) }) });
  const onlyOutOfDate = await check(checker, manifestWith({ acceptableTcbStatuses: ['OutOfDate'] }), TRUSTEE);
  t.match(onlyOutOfDate, { ok: false, failure: 'reference', reasons: [/TDX TCB status is UpToDate, which is not one of the acceptable statuses \(OutOfDate\)/] });
  // spr-e4 is below every level of its TCB info: refused whatever the manifest accepts.
  const everything = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'];
  const noLevel = await check(checker, manifestWith({ acceptableTcbStatuses: everything }), SPR);
  t.match(noLevel, { ok: false, reasons: [/no matching TCB level/] });
  t.end();
});

void t.test('without collateral: TDX evidence is refused unless the alternative says allowUnevaluatedTcb', async (t) => {
  const refused = await check(new EvidenceChecker(), manifestWith({}), TRUSTEE);
  t.match(refused, { ok: false, failure: 'reference', reasons: [/TDX TCB and QE TCB status not evaluated .*allowUnevaluatedTcb/] });
  const accepted = await check(new EvidenceChecker(), manifestWith({ allowUnevaluatedTcb: true }), TRUSTEE);
  t.match(accepted, { ok: true, peer: { policyHash: POLICY, tcbStatus: 'not_evaluated' } });
  t.end();
});

void t.test('a collateral directory that turns unusable refuses TDX evidence (fail closed) until it is fixed', async (t) => {
  const clock = new FixedClock(AT);
  const dir = collateralDir(t);
  const collateral = await DirectoryTdxCollateral.open(dir, { clock, reloadMs: 1000 });
  const checker = new EvidenceChecker({ tdxCollateral: collateral });
  t.match(await check(checker, manifestWith({}), TRUSTEE), { ok: true });
  writeFileSync(join(dir, 'notes.txt'), 'not collateral');
  clock.advance(1000);
  t.match(await check(checker, manifestWith({}), TRUSTEE), { ok: false, failure: 'evidence', reasons: [/TDX collateral: .*notes\.txt: not recognised/] });
  rmSync(join(dir, 'notes.txt'));
  clock.advance(1000);
  t.match(await check(checker, manifestWith({}), TRUSTEE), { ok: true });
  await t.rejects(DirectoryTdxCollateral.open(collateralDir(t, { 'x.json': '{"hello":1}' }), { clock }), ConfigError, 'a bad directory at startup is a configuration error');
  t.end();
});

void t.test('collateral from a collateral source (fetcher / cache interface): the quote\'s FMSPC and PCK CA are asked for', async (t) => {
  const text = (rel: string): string => Buffer.from(readSample(`tdx/collateral/${rel}`)).toString('utf8');
  const chain = text('intel_sgx_tcb_signing.pem') + text('intel_sgx_root_ca.pem');
  const asked: string[] = [];
  const refuse = (): Promise<never> => Promise.reject(new Error('not a TDX request'));
  const source: CollateralSource = {
    amdVek: refuse, amdChain: refuse, amdCrl: refuse,
    intelTdxTcbInfo: (fmspc: string) => (asked.push(`tcb ${fmspc}`), Promise.resolve({ body: text('tcbinfo-tdx-fmspc50806f000000-2023-06-18.json'), issuerChain: chain })),
    intelQeIdentity: () => (asked.push('qe'), Promise.resolve({ body: text('qeidentity-td_qe-2023-06-08.json'), issuerChain: chain })),
    intelPckCrl: (ca: IntelPckCa) => (asked.push(`pck ${ca}`), Promise.resolve({ body: readSample('tdx/collateral/pck_platform_ca.crl.der'), issuerChain: chain })),
    intelRootCrl: () => (asked.push('root'), Promise.resolve(readSample('tdx/collateral/intel_sgx_root_ca.crl.der'))),
  };
  const clock = new FixedClock(AT);
  const checker = new EvidenceChecker({ tdxCollateral: new SourcedTdxCollateral(source, { clock }) });
  t.match(await check(checker, manifestWith({}), TRUSTEE), { ok: true, peer: { tcbStatus: 'UpToDate' } });
  t.same(asked.sort(), ['pck platform', 'qe', 'root', 'tcb 50806f000000']);
  t.match(await check(checker, manifestWith({ acceptableTcbStatuses: ['Revoked'] }), TRUSTEE), { ok: false, failure: 'reference' });
  t.equal(asked.length, 4, 'assembled collateral is reused for the same FMSPC');

  const offline: TdxCollateralProvider = new SourcedTdxCollateral({ ...source, intelQeIdentity: () => Promise.reject(new Error('fetching is disabled')) }, { clock });
  t.match(await check(new EvidenceChecker({ tdxCollateral: offline }), manifestWith({ allowUnevaluatedTcb: true }), TRUSTEE), {
    ok: false, failure: 'evidence', reasons: [/TDX collateral: fetching is disabled/],
  }, 'a configured source that fails refuses the quote, even where unevaluated TCB would be allowed');
  t.end();
});

void t.test('unauthenticated callers can\'t make the Coordinator look up collateral: forged quotes and TDX-less manifests get none', async (t) => {
  let lookups = 0;
  const counting: TdxCollateralProvider = { collateralFor: () => (lookups++, Promise.resolve({ problems: ['unused'] })) };
  const checker = new EvidenceChecker({ tdxCollateral: counting });
  const forged = readSample('tdx/negative/quote-v4-gtg-spr-e4.body-bitflip.dat');
  const v = await checker.checkWithCollateral(manifestWith({}), { format: 'tdx', quote: forged }, new Uint8Array(64), AT);
  t.match(v, { ok: false, failure: 'evidence', reasons: [/quote signature does not verify/] });
  const snpOnly = parseManifestValue(buildManifestDocument({ workloadOwnerKeys: [], seedshareOwnerKeys: [], snp: [{ measurements: ['ab'.repeat(48)] }], policies: [] }));
  t.match(await check(checker, snpOnly, TRUSTEE), { ok: false, reasons: [/trusts no TDX evidence/] });
  t.equal(lookups, 0, 'no lookup for either');
  t.match(await check(checker, manifestWith({}), TRUSTEE), { ok: false, reasons: ['TDX collateral: unused'] });
  t.equal(lookups, 1, 'a genuine quote for a TDX manifest: one lookup');
  t.end();
});

void t.test('coordinator flags: --tdx-collateral DIR, --collateral-cache DIR [--fetch-collateral]; misuse is reported', (t) => {
  const read = (...argv: string[]) => {
    const tok = tokeniseFlags(argv, COORDINATOR_FLAGS);
    const r = new FieldReader('flags', tok.values, '--');
    const cfg = readCoordinatorConfig(r);
    return { cfg, issues: (() => { try { r.finish(); return []; } catch (err) { return err instanceof ConfigError ? err.issues.map((i) => i.field) : [String(err)]; } })() };
  };
  t.same(read().cfg.tdxCollateral, { kind: 'none' });
  t.same(read('--tdx-collateral', '/c').cfg.tdxCollateral, { kind: 'dir', dir: '/c' });
  t.same(read('--collateral-cache', '/k', '--fetch-collateral').cfg.tdxCollateral, { kind: 'cache', dir: '/k', fetch: true });
  t.same(read('--collateral-cache', '/k').cfg.tdxCollateral, { kind: 'cache', dir: '/k', fetch: false });
  t.same(read('--fetch-collateral').issues, ['--fetch-collateral']);
  t.same(read('--tdx-collateral', '/c', '--collateral-cache', '/k').issues, ['--collateral-cache']);
  t.end();
});

void t.test('with collateral: a genuine, UpToDate quote is still refused for another REPORTDATA (binding) or another MRTD (reference)', async (t) => {
  const checker = new EvidenceChecker({ tdxCollateral: await DirectoryTdxCollateral.open(collateralDir(t), { clock: new FixedClock(AT) }) });
  const evidence = { format: 'tdx', quote: readSample(TRUSTEE) } as const;
  const bound = Buffer.from(trustee['report_data']!, 'hex');
  t.match(await checker.checkWithCollateral(manifestWith({}), evidence, bound, AT), { ok: true, peer: { tcbStatus: 'UpToDate' } }, 'control: the REPORTDATA it carries and its own MRTD: accepted');

  const otherRequest = Buffer.from(bound);
  otherRequest.writeUInt8(otherRequest.readUInt8(0) ^ 1, 0);
  t.match(await checker.checkWithCollateral(manifestWith({}), evidence, otherRequest, AT), { ok: false, failure: 'binding', reasons: [/^REPORTDATA does not bind this request/] }, 'one bit of the expected REPORTDATA changed: a binding failure');

  const otherMrTd = 'ab'.repeat(48);
  t.match(await checker.checkWithCollateral(manifestWith({ mrTd: [otherMrTd] }), evidence, bound, AT), {
    ok: false, failure: 'reference', reasons: [new RegExp(`^MRTD ${trustee['mr_td']} is not one of the 1 reference value`)],
  }, 'a manifest that lists only another MRTD: a reference-value failure naming the MRTD');
  t.end();
});
