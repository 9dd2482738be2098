/**
 * `ccmesh generate` and a malformed workspace manifest.json: a field generate edits that has the wrong JSON type
 * (or a duplicate key, or an unknown one) is refused with exit 64 and the field's path, and nothing is written —
 * where generate once replaced a non-object `policies` / `configDigests` with its own entries.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const ccmesh = (args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
const SNP = 'ab'.repeat(48);
const VALID = `{"version": 1, "policies": {}, "referenceValues": {"snp": [{"measurements": ["${SNP}"]}], "tdx": []}, "workloadOwnerKeys": [], "seedshareOwnerKeys": []}`;

/** Runs generate on one pod with `manifestText` as the workspace manifest; checks that nothing was written. */
function generateWith(t: Test, manifestText: string, extra: string[] = []): ReturnType<typeof ccmesh> {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-gen-manifest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ws = join(dir, 'ws');
  mkdirSync(join(ws, 'policies'), { recursive: true });
  writeFileSync(join(ws, 'manifest.json'), manifestText);
  const pod = join(dir, 'pod.yaml');
  const podText = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    io.katacontainers.config.agent.policy: ${Buffer.from('package p\n').toString('base64')}\nspec:\n  containers: [{name: a, image: b}]\n`;
  writeFileSync(pod, podText);
  const r = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', ...extra, pod]);
  if (r.status !== 0) {
    t.equal(readFileSync(join(ws, 'manifest.json'), 'utf8'), manifestText, 'manifest untouched');
    t.same(readdirSync(join(ws, 'policies')), [], 'no policy document written');
    t.equal(readFileSync(pod, 'utf8'), podText, 'input untouched');
  }
  return r;
}

void t.test('a valid manifest is the baseline: generate adds the entry', (t) => {
  const r = generateWith(t, VALID);
  t.equal(r.status, 0, r.stderr);
  t.end();
});

void t.test('policies or configDigests of the wrong type: refused, naming the field', (t) => {
  const cases: [string, string, RegExp][] = [
    ['policies: []', VALID.replace('"policies": {}', '"policies": []'), /\n {2}policies: got "\[\]", expected an object mapping policy hashes/],
    ['policies: "web"', VALID.replace('"policies": {}', '"policies": "web"'), /\n {2}policies: got "web", expected an object/],
    ['configDigests: [1]', VALID.replace('"policies": {}', '"policies": {}, "configDigests": [1]'), /\n {2}configDigests: got "\[1\]", expected an object mapping policy hashes/],
    ['an entry without role', VALID.replace('"policies": {}', `"policies": {"${'c'.repeat(64)}": {"sans": ["x"], "workloadSecretId": "x"}}`), new RegExp(`\\n {2}policies\\.${'c'.repeat(64)}\\.role: got nothing`)],
  ];
  for (const [what, text, message] of cases) {
    const r = generateWith(t, text);
    t.equal(r.status, 64, what);
    t.match(r.stderr, /^ccmesh generate: invalid the workspace manifest \S+manifest\.json:/, `${what}: names the file`);
    t.match(r.stderr, message, `${what}: names the field`);
  }
  t.end();
});

void t.test('a duplicate key or an unknown field: refused before anything runs', (t) => {
  const dup = generateWith(t, VALID.replace('"policies": {}', '"policies": {}, "policies": {}'));
  t.equal(dup.status, 64);
  t.match(dup.stderr, /\n {2}policies: got nothing, expected each key at most once in an object \(duplicate key\)/);
  const unknown = generateWith(t, VALID.replace('"policies": {}', '"policies": {}, "zz": 1'));
  t.equal(unknown.status, 64);
  t.match(unknown.stderr, /invalid the workspace manifest .*\n {2}zz: got "1", expected one of the keys version, /);
  t.end();
});

void t.test('--snp-measurement does not overwrite a measurements field that is not a list', (t) => {
  const r = generateWith(t, VALID.replace(`["${SNP}"]`, `"${SNP}"`), ['--snp-measurement', 'cd'.repeat(48)]);
  t.equal(r.status, 64);
  t.match(r.stderr, /invalid the manifest generate would write to .*\n {2}referenceValues\.snp\[0\]\.measurements: got "ab/);
  t.end();
});
