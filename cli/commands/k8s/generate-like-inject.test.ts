/**
 * `ccmesh generate` used as `linkerd inject` is (issue #20 §3), through the real binary: standard input to standard
 * output, the install's Coordinator address by default, every refused resource reported before exit 64,
 * `enabled`/`disabled` for ccmesh.dev/inject, warnings for unknown ccmesh.dev/* keys, a named --genpolicy that
 * does not exist refused, and progress lines while genpolicy runs.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const BASE_PATH = `${dirname(process.execPath)}:/usr/bin:/bin`;
const ccmesh = (args: string[], opts: { input?: string; path?: string } = {}) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, input: opts.input ?? '', env: { ...process.env, PATH: opts.path ?? BASE_PATH } });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function workspace(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'firsthour-gen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'ws', 'policies'), { recursive: true });
  writeFileSync(join(dir, 'ws', 'manifest.json'), JSON.stringify({ version: 1, policies: {}, referenceValues: { snp: [{ measurements: ['ab'.repeat(48)] }], tdx: [] }, workloadOwnerKeys: [], seedshareOwnerKeys: [] }));
  return dir;
}

const deployment = (name: string, annotations: Record<string, string>, extraSpec = ''): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}}
      annotations: ${JSON.stringify(annotations)}
    spec:${extraSpec}
      containers: [{name: app, image: registry.example/${name}:1}]
`;

const initContainers = (d: Json): string[] => ((d.spec?.template?.spec?.initContainers ?? []) as Json[]).map((c) => c.name as string);

void t.test('"-": stdin to stdout, report on stderr; enabled/disabled; unknown keys warned; the install\'s Coordinator address', (t) => {
  const dir = workspace(t);
  const input = [
    deployment('web', { 'ccmesh.dev/inject': 'enabled', 'ccmesh.dev/ingres': 'web#8080' }),
    deployment('batch', { 'ccmesh.dev/inject': 'disabled' }),
    'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n',
  ].join('---\n');
  const r = ccmesh(['generate', '--workspace', join(dir, 'ws'), '--no-genpolicy', '-'], { input });
  t.equal(r.status, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Json);
  t.same(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Deployment/web', 'Deployment/batch', 'Service/web'], 'every document on stdout, in order');
  t.same(initContainers(docs[0]!), ['ccmesh-initializer', 'ccmesh-proxy'], '"enabled" is injected');
  t.same(initContainers(docs[1]!), [], '"disabled" is left out of the mesh');
  const initArgs = (docs[0]!.spec.template.spec.initContainers as Json[])[0]!.args as string[];
  t.equal(initArgs[initArgs.indexOf('--coordinator') + 1], 'coordinator-ready.ccmesh-system.svc:7777', 'the address install serves, resolvable from the app namespace');
  t.match(r.stderr, /Deployment shop\/batch: skipped: not in the mesh \(ccmesh\.dev\/inject: "disabled"\)/);
  t.match(r.stderr, /Deployment shop\/web: skipped: no policy[^\n]*\n {2}warning: unknown annotation ccmesh\.dev\/ingres \(ignored\): did you mean ccmesh\.dev\/ingress\?/);
  t.notMatch(r.stdout, /warning|skipped/, 'nothing but YAML on stdout');
  t.end();
});

void t.test('every refused resource is reported, each naming the resource and the problem; exit 64, nothing written', (t) => {
  const dir = workspace(t);
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, [
    'apiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: shop}\nspec: {hostNetwork: true, containers: [{name: a, image: b}]}\n',
    deployment('fine', {}),
  ].join('---\n'));
  writeFileSync(b, [
    deployment('shared', {}, '\n      shareProcessNamespace: true'),
    deployment('typo', { 'ccmesh.dev/inject': 'yes' }),
  ].join('---\n'));
  const before = { a: readFileSync(a, 'utf8'), b: readFileSync(b, 'utf8') };
  const r = ccmesh(['generate', '--workspace', join(dir, 'ws'), '--no-genpolicy', a, b]);
  t.equal(r.status, 64, 'refusals are the input\'s fault: exit 64');
  t.match(r.stderr, /3 resources refused:/);
  t.match(r.stderr, /Pod shop\/host[^\n]*hostNetwork/);
  t.match(r.stderr, /Deployment shop\/shared[^\n]*shareProcessNamespace/);
  t.match(r.stderr, /Deployment shop\/typo[\s\S]*ccmesh\.dev\/inject[^\n]*"yes"/);
  t.notMatch(r.stderr, /shop\/fine/, 'the resource that was fine is not named');
  t.same({ a: readFileSync(a, 'utf8'), b: readFileSync(b, 'utf8') }, before, 'inputs untouched');
  t.same(readdirSync(join(dir, 'ws', 'policies')), [], 'workspace untouched');
  t.end();
});

void t.test('a --genpolicy that is not there: exit 64 naming it; the default may be absent', (t) => {
  const dir = workspace(t);
  const app = join(dir, 'app.yaml');
  writeFileSync(app, deployment('web', {}));
  const path = ccmesh(['generate', '--workspace', join(dir, 'ws'), '--genpolicy', join(dir, 'nope', 'genpolicy'), '-o', join(dir, 'out'), app]);
  t.equal(path.status, 64);
  t.match(path.stderr, /--genpolicy \S*nope\/genpolicy: no executable file there/);
  const notExec = join(dir, 'genpolicy-not-executable');
  writeFileSync(notExec, '#!/bin/sh\n', { mode: 0o644 });
  t.equal(ccmesh(['generate', '--workspace', join(dir, 'ws'), '--genpolicy', notExec, '-o', join(dir, 'out'), app]).status, 64, 'a file without the execute bit');
  const bare = ccmesh(['generate', '--workspace', join(dir, 'ws'), '--genpolicy', 'firsthour-no-such-genpolicy', '-o', join(dir, 'out'), app]);
  t.equal(bare.status, 64);
  t.match(bare.stderr, /--genpolicy firsthour-no-such-genpolicy: not found on PATH/);
  t.throws(() => readdirSync(join(dir, 'out')), 'nothing written');
  const dflt = ccmesh(['generate', '--workspace', join(dir, 'ws'), '-o', join(dir, 'out'), app]);
  t.equal(dflt.status, 0, dflt.stderr);
  t.match(dflt.stdout, /genpolicy is not on PATH/);
  t.end();
});

void t.test('progress on stderr while genpolicy runs, one start and one end line per file', (t) => {
  const dir = workspace(t);
  const fakeBin = join(dir, 'bin');
  mkdirSync(fakeBin);
  // Leaves the file as it is (no policy): enough to see that generate reports it running.
  writeFileSync(join(fakeBin, 'genpolicy'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(fakeBin, 'genpolicy'), 0o755);
  writeFileSync(join(dir, 'a.yaml'), deployment('a', {}));
  writeFileSync(join(dir, 'b.yaml'), deployment('b', {}));
  const r = ccmesh(['generate', '--workspace', join(dir, 'ws'), '-o', join(dir, 'out'), join(dir, 'a.yaml'), join(dir, 'b.yaml')], { path: `${fakeBin}:${BASE_PATH}` });
  t.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('genpolicy: '));
  t.equal(lines.length, 4, r.stderr);
  t.equal(lines[0], 'genpolicy: a.yaml (1 of 2)…');
  t.match(lines[1], /^genpolicy: a\.yaml \(1 of 2\) done in \d+\.\d s$/);
  t.equal(lines[2], 'genpolicy: b.yaml (2 of 2)…');
  t.match(lines[3], /^genpolicy: b\.yaml \(2 of 2\) done in \d+\.\d s$/);
  t.end();
});
