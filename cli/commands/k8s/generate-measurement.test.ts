/**
 * `ccmesh generate` and launch measurements: a manifest whose alternative pins none is refused before anything is
 * written (today's `{}` alternative), `--snp-measurement` / `--tdx-mrtd` write the measurement into the
 * manifest, and an explicit `allowUnmeasured` alternative is warned about on stderr.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const ccmesh = (args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SNP = 'ab'.repeat(48);
const TDX = 'cd'.repeat(48);

function setup(t: { teardown(fn: () => void): void }, referenceValues: unknown): { ws: string; pod: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-gen-measure-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ws = join(dir, 'ws');
  mkdirSync(join(ws, 'policies'), { recursive: true });
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify({ version: 1, policies: {}, referenceValues, workloadOwnerKeys: [], seedshareOwnerKeys: [] }));
  const pod = join(dir, 'pod.yaml');
  writeFileSync(pod, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns1\n  annotations:\n    io.katacontainers.config.agent.policy: ${Buffer.from('package p\n').toString('base64')}\nspec:\n  containers: [{name: a, image: b}]\n`);
  return { ws, pod };
}

void t.test('an alternative without a measurement: generate refuses and writes nothing', (t) => {
  const { ws, pod } = setup(t, { snp: [{}], tdx: [] });
  const before = readFileSync(join(ws, 'manifest.json'), 'utf8');
  const r = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', pod]);
  t.equal(r.status, 64);
  t.match(r.stderr, /referenceValues\.snp\[0\]\.measurements: got nothing, expected the launch measurement/);
  t.equal(readFileSync(join(ws, 'manifest.json'), 'utf8'), before, 'manifest untouched');
  t.notMatch(readFileSync(pod, 'utf8'), /ccmesh/, 'input untouched');
  t.end();
});

void t.test('--snp-measurement / --tdx-mrtd are written into the manifest', (t) => {
  const { ws, pod } = setup(t, { snp: [{}], tdx: [] });
  const r = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', '--snp-measurement', SNP, '--tdx-mrtd', TDX, pod]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /pinned referenceValues\.snp\[0\]\.measurements: \+1/);
  t.match(r.stdout, /pinned referenceValues\.tdx\[0\]: new alternative with mrTd/);
  const m = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  t.same(m.referenceValues, { snp: [{ measurements: [SNP] }], tdx: [{ mrTd: [TDX] }] });
  t.equal(Object.keys(m.policies).length, 1, 'and the pod\'s entry');
  const again = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', '--snp-measurement', SNP, pod]);
  t.equal(again.status, 0, again.stderr);
  t.notMatch(again.stdout, /pinned/, 'already pinned: no change');
  t.equal(ccmesh(['generate', '--workspace', ws, '--no-genpolicy', '--snp-measurement', 'abc', pod]).status, 64, 'a malformed measurement');
  t.end();
});

void t.test('an explicit allowUnmeasured alternative is accepted and warned about', (t) => {
  const { ws, pod } = setup(t, { snp: [{ allowUnmeasured: true }], tdx: [] });
  const r = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', pod]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /WARNING: .*manifest\.json: referenceValues\.snp\[0\] has "allowUnmeasured": true/);
  t.end();
});
