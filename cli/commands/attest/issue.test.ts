/**
 * Round trip through the real binary: simulate init → attest issue → attest verify, accepted only with the
 * simulated ARK given explicitly; plus the usage and "no TEE here" errors.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const ccmesh = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

void t.test('simulate init → issue → verify: accepted with --root, rejected against the pinned roots', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-issue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sim = join(dir, 'sim');
  const init = ccmesh('attest', 'simulate', 'init', '--out', sim, '--measurement', '42'.repeat(48));
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout, /SIMULATED milan SEV-SNP platform/);
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim).code, 64, 'refuses to overwrite a platform');

  const reportData = 'c0ffee'.padEnd(128, '0');
  const out = join(dir, 'report.bin');
  const issue = ccmesh('attest', 'issue', '--tee', 'simulated', '--sim-dir', sim, '--report-data', reportData, '--host-data', '77'.repeat(32), '--out', out);
  t.equal(issue.code, 0, issue.stderr);
  for (const f of [out, `${out}.vcek.der`, `${out}.chain.pem`]) t.ok(existsSync(f), f);
  t.equal(readFileSync(out).length, 1184);

  const verify = ['attest', 'verify', '--format', 'snp', '--evidence', out, '--cert', `${out}.vcek.der`, '--chain', `${out}.chain.pem`, '--json'];
  const trusted = ccmesh(...verify, '--root', join(sim, 'ark.pem'));
  t.equal(trusted.code, 0, trusted.stdout);
  const claims = (JSON.parse(trusted.stdout) as { claims: Record<string, unknown> }).claims;
  t.equal(claims.report_data, reportData);
  t.equal(claims.host_data, '77'.repeat(32));
  t.equal(claims.measurement, '42'.repeat(48));
  t.equal(claims.version, 3);

  const pinned = ccmesh(...verify);
  t.equal(pinned.code, 3);
  const reasons = (JSON.parse(pinned.stdout) as { reasons: string[] }).reasons.join('\n');
  t.match(reasons, /not a pinned trust anchor/);
  t.match(reasons, /--root/);

  const tampered = Buffer.from(readFileSync(out));
  tampered[0x90] = tampered[0x90]! ^ 1; // first MEASUREMENT byte
  writeFileSync(out, tampered);
  t.equal(ccmesh(...verify, '--root', join(sim, 'ark.pem')).code, 3, 'a flipped measurement byte is rejected');
  t.end();
});

void t.test('without a TEE, auto lists everything it looked for and exits 1; bad flags exit 64', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-issue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const none = ccmesh('attest', 'issue', '--report-data', '00'.repeat(64), '--out', join(dir, 'r.bin'),
    '--configfs-root', join(dir, 'no-tsm'), '--sev-guest-device', join(dir, 'no-sev'), '--tdx-guest-device', join(dir, 'no-tdx'));
  t.equal(none.code, 1);
  t.match(none.stderr, /no-tsm/);
  t.match(none.stderr, /no-sev/);
  t.match(none.stderr, /no-tdx/);
  t.notOk(existsSync(join(dir, 'r.bin')), 'nothing written');
  const bad = ccmesh('attest', 'issue', '--report-data', 'abc', '--host-data', '00'.repeat(32), '--tee', 'sgx');
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--report-data: got "abc", expected 64 bytes of hex/);
  t.match(bad.stderr, /--out: got nothing/);
  t.match(bad.stderr, /--tee: got "sgx"/);
  const hostData = ccmesh('attest', 'issue', '--report-data', '00'.repeat(64), '--out', 'x', '--host-data', '00'.repeat(32));
  t.equal(hostData.code, 64);
  t.match(hostData.stderr, /no --host-data unless --tee simulated/);
  t.equal(ccmesh('attest', 'issue', '--tee', 'simulated', '--report-data', '00'.repeat(64), '--out', 'x').code, 64, '--sim-dir required');
  t.end();
});
