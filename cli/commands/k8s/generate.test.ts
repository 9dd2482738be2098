/**
 * `ccmesh generate` through the real binary: the examples/ app into a temp dir, the manifest entries checked
 * against hashes this test computes from the examples' own annotations, idempotence, the genpolicy wiring with a
 * fake genpolicy on PATH, exit codes, and finally `ccmesh set` of the generated manifest to a real Coordinator
 * process on the simulated TEE.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { freePorts } from '../../../lib/net/free-ports.js';
import { startCoordinatorProcess, waitFor } from '../../../test/cli-process.js';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const examples = join(repoRoot, 'examples');
/** A PATH without genpolicy (node's own directory first, so `env node` style shebangs still work). */
const BASE_PATH = `${dirname(process.execPath)}:/usr/bin:/bin`;
const ccmesh = (args: string[], path = BASE_PATH) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PATH: path } });
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every file below `dir` with its content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length)] = readFileSync(join(e.parentPath, e.name), 'utf8');
  }
  return out;
}

/** What the test expects for each example resource, computed from the example files with node's own tools. */
function expectedIdentities(): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of ['frontend.yaml', 'backend.yaml', 'migrate.yaml']) {
    for (const d of parseAllDocuments(readFileSync(join(examples, f), 'utf8'))) {
      const o = d.toJS() as Json;
      const ann = o.spec?.template?.metadata?.annotations as Record<string, string> | undefined;
      if (!ann) continue;
      const policy = ann['io.katacontainers.config.agent.policy'];
      const initdata = ann['io.katacontainers.config.hypervisor.cc_init_data'];
      const doc = initdata !== undefined ? gunzipSync(Buffer.from(initdata, 'base64')) : Buffer.from(policy!, 'base64');
      out.set(`${o.kind}/${o.metadata.name}`, sha256(doc));
    }
  }
  return out;
}

const startCoordinator = startCoordinatorProcess;

const FAKE_GENPOLICY = `#!/bin/sh
# Fake genpolicy: records its arguments, then (like genpolicy -y FILE) replaces each pod template's policy.
echo "$*" >> "$(dirname "$0")/calls.log"
while [ $# -gt 0 ]; do
  if [ "$1" = "-y" ]; then f="$2"; fi
  shift
done
name=$(basename "$f")
awk -v name="$name" '
  /io\\.katacontainers\\.config\\.(agent\\.policy|hypervisor\\.cc_init_data):/ { next }
  { print }
  /^ +annotations:$/ {
    n++
    match($0, /^ +/)
    cmd = "printf \\"package fake_%s_%d\\\\n\\" " name " " n " | base64 -w0"
    cmd | getline b64
    close(cmd)
    printf "%s  io.katacontainers.config.agent.policy: %s\\n", substr($0, 1, RLENGTH), b64
  }' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
`;

void t.test('generate examples/ → injected YAML and manifest entries; twice = no change; ccmesh set accepts them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-generate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const coordDoc = 'package coordinator_policy\n';
  const coordHash = sha256(coordDoc);
  const sim = join(dir, 'sim');
  t.equal(ccmesh(['attest', 'simulate', 'init', '--out', sim, '--host-data', coordHash]).status, 0);
  const ws = join(dir, 'ws');
  const measurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  const init = ccmesh(['manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', measurement]);
  t.equal(init.status, 0, init.stderr);
  // A hand-made entry that generate must keep.
  const m0 = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  m0.policies[coordHash] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(m0, null, 2));
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), coordDoc);

  const examplesBefore = snapshot(examples);
  const out = join(dir, 'out');
  const gen = ccmesh(['generate', '-o', out, '--workspace', ws, examples]);
  t.equal(gen.status, 0, gen.stderr + gen.stdout);
  t.match(gen.stdout, /genpolicy is not on PATH: policies must be supplied/);
  t.match(gen.stdout, /Deployment shop\/web: policy [0-9a-f]{12} id apps\/v1\/Deployment\/shop\/web/);
  t.match(gen.stdout, /config pinned: \/etc\/web \(2 files\)/);
  t.match(gen.stdout, /warning: its policy annotation predates injection/);
  t.equal(gen.stderr, '', 'no workspace warnings: every document pairs with a policy');
  t.same(snapshot(examples), examplesBefore, 'inputs untouched with -o');
  t.same(Object.keys(snapshot(out)).sort(), ['/backend.yaml', '/frontend.yaml', '/migrate.yaml']);

  // Injected YAML: every pod resource has the initializer and sidecar; Services and ConfigMaps pass unchanged.
  for (const f of ['frontend.yaml', 'backend.yaml', 'migrate.yaml']) {
    const inDocs = parseAllDocuments(readFileSync(join(examples, f), 'utf8')).map((d) => d.toJS() as Json);
    const outDocs = parseAllDocuments(readFileSync(join(out, f), 'utf8')).map((d) => d.toJS() as Json);
    t.equal(outDocs.length, inDocs.length, `${f}: same number of documents`);
    outDocs.forEach((o, i) => {
      if (o.kind === 'Service' || o.kind === 'ConfigMap') t.same(o, inDocs[i], `${f}: ${o.kind} unchanged`);
      else t.same(o.spec.template.spec.initContainers.map((c: Json) => c.name), ['ccmesh-initializer', 'ccmesh-proxy'], `${f}: ${o.kind} injected`);
    });
  }

  // Manifest entries: hashes from the examples' annotations, documents in policies/, digests of the ConfigMap.
  const want = expectedIdentities();
  const m1 = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  t.same(Object.keys(m1.policies).sort(), [coordHash, ...want.values()].sort());
  t.same(m1.policies[coordHash], { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' }, 'hand-made entry kept');
  t.same(m1.policies[want.get('StatefulSet/backend')!], {
    sans: ['backend', 'backend.shop', 'backend.shop.svc', 'backend.shop.svc.cluster.local', '*.backend.shop.svc', '*.backend.shop.svc.cluster.local'],
    workloadSecretId: 'apps/v1/StatefulSet/shop/backend',
    role: '',
  });
  t.equal(m1.policies[want.get('Job/migrate')!].workloadSecretId, 'shop/migrate', 'id from the annotation');
  t.same(m1.configDigests, {
    [want.get('Deployment/web')!]: {
      '/etc/web': {
        'app.properties': sha256('backend.url=http://127.0.0.2:8080\ngreeting=hello from the confidential shop\n'),
        'log-level': sha256('info'),
      },
    },
  });
  for (const h of want.values()) t.equal(sha256(readFileSync(join(ws, 'policies', h))), h, `policies/${h.slice(0, 12)} holds its document`);

  // Twice: the same inputs, and the generated output regenerated in place, change nothing.
  const wsBefore = snapshot(ws);
  const outBefore = snapshot(out);
  const again = ccmesh(['generate', '-o', out, '--workspace', ws, examples]);
  t.equal(again.status, 0, again.stderr);
  t.same(snapshot(out), outBefore, 'same output YAML');
  t.same(snapshot(ws), wsBefore, 'same manifest and documents');
  const inPlace = ccmesh(['generate', '--workspace', ws, out]);
  t.equal(inPlace.status, 0, inPlace.stderr);
  t.notMatch(inPlace.stdout, /predates injection/, 'already injected: the policies still match');
  t.same(snapshot(out), outBefore, 'in place: injected files unchanged');
  t.same(snapshot(ws), wsBefore);

  // ccmesh set: a real Coordinator on the simulated TEE accepts the manifest and its documents.
  const [user, meshPort, metrics] = (await freePorts(3)) as [number, number, number];
  const coordinator = startCoordinator(['--store', `file:${join(dir, 'store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1', '--user-port', String(user), '--mesh-port', String(meshPort), '--metrics-port', String(metrics), '--log-level', 'warn']);
  t.teardown(() => coordinator.stop());
  await waitFor(async () => (await fetch(`http://127.0.0.1:${metrics}/probe/startup`)).status === 200, 30_000);
  const set = ccmesh(['set', '-c', `127.0.0.1:${user}`, '--dir', ws]);
  t.equal(set.status, 0, set.stderr + set.stdout);
  t.match(set.stdout, /first manifest/);
  t.equal((await fetch(`http://127.0.0.1:${metrics}/probe/readiness`)).status, 200, 'the Coordinator is ready with the generated manifest');
});

void t.test('with genpolicy on PATH: it runs on the injected files and its policies become the entries', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-genpolicy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fakeBin = join(dir, 'bin');
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, 'genpolicy'), FAKE_GENPOLICY);
  chmodSync(join(fakeBin, 'genpolicy'), 0o755);
  const ws = join(dir, 'ws');
  mkdirSync(join(ws, 'policies'), { recursive: true });
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify({ version: 1, policies: {}, referenceValues: { snp: [{ measurements: ['ab'.repeat(48)] }], tdx: [] }, workloadOwnerKeys: [], seedshareOwnerKeys: [] }));
  const input = join(dir, 'in');
  cpSync(examples, input, { recursive: true });
  const gen = ccmesh(['generate', '--workspace', ws, '--genpolicy-arg=--use-cached-files', input], `${fakeBin}:${BASE_PATH}`);
  t.equal(gen.status, 0, gen.stderr + gen.stdout);
  t.match(gen.stdout, /genpolicy annotated the injected resources/);
  t.notMatch(gen.stdout, /predates injection/);
  const calls = readFileSync(join(fakeBin, 'calls.log'), 'utf8').trim().split('\n');
  t.equal(calls.length, 3, 'one run per file with pods');
  for (const c of calls) t.match(c, /^--use-cached-files -y \S+\.yaml$/, 'extra args, then -y FILE');
  // The scratch files are 0.yaml, 1.yaml, 2.yaml in input order (backend, frontend, migrate); one template each.
  const policies = [0, 1, 2].map((i) => `package fake_${i}.yaml_1\n`);
  const m = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  t.same(Object.keys(m.policies).sort(), policies.map((p) => sha256(p)).sort());
  t.equal(readFileSync(join(ws, 'policies', sha256(policies[0]!)), 'utf8'), policies[0]);
  const backend = parseAllDocuments(readFileSync(join(input, 'backend.yaml'), 'utf8')).map((d) => d.toJS() as Json)[1]!;
  const ann = backend.spec.template.metadata.annotations as Record<string, string>;
  t.equal(Buffer.from(ann['io.katacontainers.config.agent.policy']!, 'base64').toString(), policies[0], 'in place: the input now carries genpolicy\'s policy');
  t.notOk('io.katacontainers.config.hypervisor.cc_init_data' in ann);
  t.end();
});

void t.test('a regenerated resource replaces its entry and its document', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-regen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ws = join(dir, 'ws');
  mkdirSync(join(ws, 'policies'), { recursive: true });
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify({ version: 1, policies: {}, referenceValues: { snp: [{ measurements: ['ab'.repeat(48)] }], tdx: [] }, workloadOwnerKeys: [], seedshareOwnerKeys: [] }));
  const file = join(dir, 'pod.yaml');
  const write = (rego: string): void => writeFileSync(file, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns1\n  annotations:\n    io.katacontainers.config.agent.policy: ${Buffer.from(rego).toString('base64')}\nspec:\n  containers: [{name: a, image: b}]\n`);
  write('package one\n');
  t.equal(ccmesh(['generate', '--workspace', ws, '--no-genpolicy', file]).status, 0);
  write('package two\n');
  const second = ccmesh(['generate', '--workspace', ws, '--no-genpolicy', file]);
  t.equal(second.status, 0, second.stderr);
  t.match(second.stdout, /removed .*\(replaced entry\)/);
  const m = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  t.same(m.policies, { [sha256('package two\n')]: { sans: ['p', 'p.ns1', 'p.ns1.svc', 'p.ns1.svc.cluster.local'], workloadSecretId: 'core/v1/Pod/ns1/p', role: '' } });
  t.same(readdirSync(join(ws, 'policies')), [sha256('package two\n')]);
  t.end();
});

void t.test('exit codes: 64 for usage errors and when inject refuses', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-gen-exit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, policies: {}, referenceValues: { snp: [{ measurements: ['ab'.repeat(48)] }], tdx: [] }, workloadOwnerKeys: [], seedshareOwnerKeys: [] }));
  const hostNet = join(dir, 'host.yaml');
  writeFileSync(hostNet, 'apiVersion: v1\nkind: Pod\nmetadata: {name: h}\nspec: {hostNetwork: true, containers: [{name: a, image: b}]}\n');
  const noArgs = ccmesh(['generate', '--workspace', dir]);
  t.equal(noArgs.status, 64);
  t.match(noArgs.stderr, /FILE\|DIR: got nothing, expected at least one YAML file or directory argument/);
  t.equal(ccmesh(['generate', '--workspace', dir, '--bogus', hostNet]).status, 64);
  t.equal(ccmesh(['generate', '--workspace', join(dir, 'missing'), hostNet]).status, 64, 'no workspace manifest');
  t.equal(ccmesh(['generate', '--workspace', dir, join(dir, 'nope.yaml')]).status, 64, 'unreadable input');
  const refused = ccmesh(['generate', '--workspace', dir, hostNet]);
  t.equal(refused.status, 64);
  t.match(refused.stderr, /hostNetwork/);
  t.ok(existsSync(hostNet) && !readFileSync(hostNet, 'utf8').includes('ccmesh'), 'nothing written on refusal');
  t.match(ccmesh(['generate', '--help']).stdout, /Usage:\n {2}ccmesh generate/);
  t.end();
});
