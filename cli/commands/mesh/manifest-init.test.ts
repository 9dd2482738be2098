/**
 * `ccmesh manifest init` asks for the pod image's launch measurement instead of writing an alternative that
 * accepts any guest: without one it refuses (exit 64, saying what to pass, nothing created); measurements land in
 * the right alternative; the explicit `--allow-unmeasured` opt-out is written and warned about, and so is every
 * later read of the workspace (`set`, `verify`, `recover` read it through readWorkspaceManifest).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArk, generateAmdRsaKeys } from '../../../attestation/simulated/amd-certificates.js';
import { SIMULATED_ORGANIZATION } from '../../../attestation/simulated/marker.js';
import { ConfigError } from '../../../lib/errors.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CCMESH_BIN } from '../../../test/cli-process.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceManifest } from '../../workspace.js';
import { manifestInitCommand } from './manifest-init.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SNP = 'ab'.repeat(48);
const SNP2 = 'CD'.repeat(48);
const TDX = 'ef'.repeat(48);

function workspace(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function init(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const io: CliIo = { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s) };
  await manifestInitCommand(args, io);
  return out;
}

/** The fields of the ConfigError `p` rejects with (empty when it resolves). */
async function refusedFields(p: Promise<unknown>): Promise<{ field: string; value?: string | undefined }[]> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  return err instanceof ConfigError ? err.issues.map((i) => ({ field: i.field, value: i.value })) : [];
}

const manifestOf = (ws: string): Json => JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;

void t.test('manifest init without a measurement refuses, says what to pass, and creates nothing', (t) => {
  const ws = join(workspace(t), 'ws');
  const r = spawnSync(process.execPath, [CCMESH_BIN, 'manifest', 'init', '--dir', ws], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 64, 'a usage error');
  t.match(r.stderr, /--snp-measurement: got nothing, expected the launch measurement of the pod VM image/);
  t.match(r.stderr, /--tdx-mrtd HEX/);
  t.match(r.stderr, /--allow-unmeasured/);
  t.notOk(existsSync(ws), 'no workspace, keys or manifest');
  t.end();
});

void t.test('--snp-measurement / --tdx-mrtd (repeatable) are written as the alternatives\' measurements', async (t) => {
  const ws = workspace(t);
  const out = await init(['--dir', ws, '--snp-measurement', SNP, '--snp-measurement', SNP2, '--tdx-mrtd', TDX]);
  t.equal(out.stderr, '', 'no warning for a measured manifest');
  const rv = manifestOf(ws).referenceValues as Json;
  t.same(rv.snp, [{ measurements: [SNP, SNP2.toLowerCase()] }]);
  t.same(rv.tdx, [{ mrTd: [TDX] }]);
  t.same(rv.simulated, []);
  const read = await readWorkspaceManifest(ws, (l) => t.fail(`unexpected warning ${l}`));
  t.same(read.manifest.referenceValues.snp[0]?.measurements, [SNP, SNP2.toLowerCase()]);
  t.end();
});

void t.test('with --simulated-root the SNP measurement pins the simulated root', async (t) => {
  const ws = workspace(t);
  const ark = await createArk('milan', await generateAmdRsaKeys(2048), { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2034-01-01T00:00:00Z') }, SIMULATED_ORGANIZATION);
  await writeFileAtomic(join(ws, 'ark.pem'), ark.toString('pem'), 0o644);
  await init(['--dir', join(ws, 'w'), '--simulated-root', join(ws, 'ark.pem'), '--snp-measurement', SNP]);
  const rv = manifestOf(join(ws, 'w')).referenceValues as Json;
  t.same(rv.snp, []);
  t.same(rv.simulated[0].snp, { measurements: [SNP] });
  t.match(await refusedFields(init(['--dir', join(ws, 'v'), '--simulated-root', join(ws, 'ark.pem'), '--tdx-mrtd', TDX])), [{ field: 'referenceValues.simulated[0].snp.measurements' }], 'a TDX MRTD alone leaves the simulated root unmeasured: refused');
  t.notOk(existsSync(join(ws, 'v', 'keys')), 'refused before any key is made');
  t.end();
});

void t.test('--allow-unmeasured writes the explicit opt-out and warns; every later read warns again', async (t) => {
  const ws = workspace(t);
  const out = await init(['--dir', ws, '--allow-unmeasured']);
  t.same((manifestOf(ws).referenceValues as Json).snp, [{ allowUnmeasured: true }]);
  t.match(out.stderr, /^WARNING: .*manifest\.json: referenceValues\.snp\[0\] has "allowUnmeasured": true/);
  const warnings: string[] = [];
  await readWorkspaceManifest(ws, (l) => warnings.push(l));
  t.equal(warnings.length, 1);
  t.match(warnings[0], /referenceValues\.snp\[0\] has "allowUnmeasured": true — it accepts ANY genuine guest image/);
  t.match(await refusedFields(init(['--dir', workspace(t), '--allow-unmeasured', '--snp-measurement', SNP])), [{ field: '--allow-unmeasured' }], 'not both');
  t.match(await refusedFields(init(['--dir', workspace(t), '--snp-measurement', 'ab'])), [{ field: '--snp-measurement', value: 'ab' }], 'a malformed measurement');
  t.end();
});
