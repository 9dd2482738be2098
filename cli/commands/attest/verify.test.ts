/**
 * The `ccmesh attest verify` contract, exercised through the real binary: exit codes, the --json shape and
 * claims compared against facts.json (recorded independently of ccmesh).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attestationSample as s, factOf, repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');

function ccmesh(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const snpArgs = (report: string, chain = 'snp/ask_ark_milan.pem', at = '2024-01-01T00:00:00Z'): string[] => [
  'attest', 'verify', '--format', 'snp', '--evidence', s(report), '--cert', s('snp/gsg-milan-v2.vcek.der'), '--chain', s(chain), '--at', at,
];

void t.test('snp: genuine report is accepted (exit 0) with claims equal to the facts', (t) => {
  const r = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin'), '--json');
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; format: string; reasons: string[]; claims: Record<string, unknown> };
  const f = factOf('snp/gsg-milan-v2.report.bin').fields as Record<string, unknown>;
  t.equal(out.ok, true);
  t.equal(out.format, 'snp');
  t.same(out.reasons, []);
  t.equal(out.claims.version, f.version);
  t.equal(out.claims.product, 'milan');
  t.equal(out.claims.signer, 'vcek');
  t.equal(out.claims.measurement, f.measurement);
  t.equal(out.claims.report_data, f.report_data);
  t.equal(out.claims.host_data, f.host_data);
  t.equal(out.claims.chip_id, f.chip_id);
  t.equal(out.claims.vmpl, f.vmpl);
  t.equal(out.claims.policy, f.policy_hex);
  const tcb = f.reported_tcb as Record<string, unknown>;
  t.same(out.claims.reported_tcb, { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode });
  t.end();
});

void t.test('snp: tampered report, wrong product chain and expired time exit 3 with reasons', (t) => {
  const tampered = ccmesh(...snpArgs('snp/negative/gsg-milan-v2.report.reportdata-bitflip.bin'), '--json');
  t.equal(tampered.code, 3);
  t.match((JSON.parse(tampered.stdout) as { reasons: string[] }).reasons.join('\n'), /signature/i);
  const genoa = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin', 'snp/ask_ark_genoa.pem'));
  t.equal(genoa.code, 3);
  t.match(genoa.stdout, /^REJECTED/);
  t.match(genoa.stdout, /genoa/i);
  const late = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin', 'snp/ask_ark_milan.pem', '2031-01-01T00:00:00Z'), '--json');
  t.equal(late.code, 3);
  t.match((JSON.parse(late.stdout) as { reasons: string[] }).reasons.join('\n'), /expired/);
  t.end();
});

void t.test('tdx: quote with collateral is accepted with UpToDate TCB; no collateral means not_evaluated', (t) => {
  const args = ['attest', 'verify', '--format', 'tdx', '--evidence', s('tdx/quote-v4-trustee-q4.dat'), '--at', '2023-07-01T01:00:00Z', '--json'];
  const full = ccmesh(...args, '--collateral', s('tdx/collateral'));
  t.equal(full.code, 0, full.stdout + full.stderr);
  const claims = (JSON.parse(full.stdout) as { claims: Record<string, unknown> }).claims;
  const body = factOf('tdx/quote-v4-trustee-q4.dat').td_report_body as Record<string, string>;
  t.equal(claims.tcb_status, 'UpToDate');
  t.equal(claims.qe_tcb_status, 'UpToDate');
  t.equal(claims.mr_td, body.mr_td);
  t.equal(claims.report_data, body.report_data);
  t.same(claims.rtmr, [body.rtmr0, body.rtmr1, body.rtmr2, body.rtmr3]);
  t.same((JSON.parse(full.stdout) as { notChecked: string[] }).notChecked.filter((n) => /TCB status/.test(n)), [], 'with collateral the TCB status is checked');
  const bare = ccmesh(...args);
  t.equal(bare.code, 0, bare.stdout);
  const bareOut = JSON.parse(bare.stdout) as { claims: Record<string, unknown>; notChecked: string[] };
  t.equal(bareOut.claims.tcb_status, 'not_evaluated');
  // This sample is a debug TD: an accepted verdict without --ref must say so, and that the TCB was not evaluated.
  t.match(bareOut.notChecked.join('\n'), /TD is debuggable/);
  t.match(bareOut.notChecked.join('\n'), /TCB status not evaluated/);
  t.match(bareOut.notChecked.join('\n'), /no reference values/);
  const human = ccmesh(...args.filter((a) => a !== '--json'));
  t.match(human.stdout, /^ACCEPTED \(signatures and certificates only; see "not checked"\)/);
  t.match(human.stdout, /not checked: the TD is debuggable/);
  t.end();
});

void t.test('tdx: a quote below every TCB level is rejected, never UpToDate', (t) => {
  const r = ccmesh('attest', 'verify', '--format', 'tdx', '--evidence', s('tdx/quote-v4-gtg-spr-e4.dat'), '--collateral', s('tdx/collateral'), '--at', '2023-07-01T01:00:00Z', '--json');
  t.equal(r.code, 3);
  const out = JSON.parse(r.stdout) as { claims: Record<string, unknown>; reasons: string[] };
  t.not(out.claims.tcb_status, 'UpToDate');
  t.match(out.reasons.join('\n'), /no matching TCB level/i);
  t.end();
});

void t.test('usage errors exit 64 and list every problem at once', (t) => {
  const r = ccmesh('attest', 'verify', '--format', 'sgx', '--bogus', '--at', 'yesterday');
  t.equal(r.code, 64);
  t.match(r.stderr, /--bogus/);
  t.match(r.stderr, /--format: got "sgx", expected one of snp, tdx/);
  t.match(r.stderr, /--evidence: got nothing/);
  t.match(r.stderr, /--at: got "yesterday"/);
  const snpMissing = ccmesh('attest', 'verify', '--format', 'snp', '--evidence', s('snp/gsg-milan-v2.report.bin'));
  t.equal(snpMissing.code, 64);
  t.match(snpMissing.stderr, /--cert/);
  t.match(snpMissing.stderr, /--chain/);
  t.equal(ccmesh('nonsense').code, 64);
  t.end();
});

void t.test('unreadable input exits 64 naming the flag and path; bad reference values exit 64 naming the field', (t) => {
  const r = ccmesh(...snpArgs('snp/does-not-exist.bin'));
  t.equal(r.code, 64);
  t.match(r.stderr, /--evidence .*does-not-exist\.bin: cannot read/);
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-ref-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ref = join(dir, 'refs.json');
  writeFileSync(ref, JSON.stringify({ snp: { measurements: ['zz'], vmpl: 'zero' }, sgx: {} }));
  const bad = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin'), '--ref', ref);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /snp\.measurements\[0\]/);
  t.match(bad.stderr, /snp\.vmpl/);
  t.match(bad.stderr, /sgx/);
  t.end();
});

void t.test('reference values are applied: the sample debug policy is refused by default', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-ref-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = factOf('snp/gsg-milan-v2.report.bin').fields as Record<string, string>;
  const ref = join(dir, 'refs.json');
  writeFileSync(ref, JSON.stringify({ snp: { measurements: [f.measurement] } }));
  const r = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin'), '--ref', ref, '--json');
  t.equal(r.code, 3);
  t.match((JSON.parse(r.stdout) as { reasons: string[] }).reasons.join('\n'), /debug/i);
  writeFileSync(ref, JSON.stringify({ snp: { measurements: [f.measurement], allowDebug: true } }));
  t.equal(ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin'), '--ref', ref).code, 0);
  writeFileSync(ref, JSON.stringify({ snp: { measurements: ['00'.repeat(48)], allowDebug: true } }));
  const wrong = ccmesh(...snpArgs('snp/gsg-milan-v2.report.bin'), '--ref', ref, '--json');
  t.equal(wrong.code, 3);
  t.match((JSON.parse(wrong.stdout) as { reasons: string[] }).reasons.join('\n'), /measurement/i);
  t.end();
});
