/**
 * `ccmesh install` through the CLI router: exit codes and messages for --help, a missing --print, bad values
 * files (unknown key, etcd, replicas > 1, unreadable, malformed YAML) and a bad namespace; and that the printed
 * Coordinator args are accepted by the real `ccmesh coordinator` flag parser.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { COORDINATOR_FLAGS, readCoordinatorConfig } from '../../../coordinator/config.js';
import { readCommandFlags } from '../../flags.js';
import { runCli } from '../../run.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['install', ...argv], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'ccmesh-install-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

void t.test('--help', async (t) => {
  const r = await run(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /ccmesh install --print \[--values FILE\] \[--namespace ccmesh-system\] \| kubectl apply -f -/);
});

void t.test('without --print: not supported, suggests kubectl, exit 64, nothing printed', async (t) => {
  const r = await run([]);
  t.equal(r.code, 64);
  t.equal(r.stdout, '');
  t.match(r.stderr, /no Kubernetes client/);
  t.match(r.stderr, /ccmesh install --print \| kubectl apply -f -/);
});

void t.test('--print with default values prints YAML', async (t) => {
  const r = await run(['--print']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^---\napiVersion: v1\nkind: Namespace\nmetadata:\n {2}name: ccmesh-system\n/);
  t.equal(r.stderr, '');
});

const BAD: readonly { name: string; text: string; stderr: RegExp }[] = [
  { name: 'unknown key', text: 'coordinator:\n  replica: 2\n', stderr: /coordinator\.replica: got "2", expected no such key/ },
  { name: 'etcd', text: 'coordinator:\n  store:\n    type: etcd\n', stderr: /coordinator\.store\.type: got "etcd".*etcd store backend is not built/ },
  { name: 'replicas', text: 'coordinator:\n  replicas: 3\n', stderr: /coordinator\.replicas: got "3".*need a shared store/ },
  { name: 'malformed YAML', text: 'coordinator: [\n', stderr: /not valid YAML/ },
  { name: 'duplicate key', text: 'image:\n  tag: a\n  tag: b\n', stderr: /not valid YAML/ },
];

for (const c of BAD) {
  void t.test(`bad values file: ${c.name} → exit 64`, async (t) => {
    const r = await run(['--print', '--values', file(`${c.name.replace(/\W+/g, '-')}.yaml`, c.text)]);
    t.equal(r.code, 64);
    t.equal(r.stdout, '', 'nothing printed');
    t.match(r.stderr, c.stderr);
  });
}

void t.test('unreadable values file → exit 64 naming it', async (t) => {
  const r = await run(['--print', '--values', join(dir, 'missing.yaml')]);
  t.equal(r.code, 64);
  t.match(r.stderr, /missing\.yaml/);
});

void t.test('bad --namespace → exit 64', async (t) => {
  const r = await run(['--print', '--namespace', 'Not_A_Name']);
  t.equal(r.code, 64);
  t.match(r.stderr, /--namespace: got "Not_A_Name", expected a DNS-1123 label/);
});

void t.test('the Coordinator container args parse with the real coordinator flags; the store is on the PVC mount', async (t) => {
  const r = await run(['--print']);
  const sts = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string; spec?: { template: { spec: { containers: { args: string[]; volumeMounts: { name: string; mountPath: string }[] }[] } } } }).find((o) => o.kind === 'StatefulSet');
  const c = sts?.spec?.template.spec.containers[0];
  t.equal(c?.args[0], 'coordinator', 'the subcommand');
  const { r: reader } = readCommandFlags('coordinator', c?.args.slice(1) ?? [], COORDINATOR_FLAGS);
  const cfg = readCoordinatorConfig(reader);
  t.doesNotThrow(() => reader.finish());
  t.same([cfg.userPort, cfg.meshPort, cfg.metricsPort], [1313, 7777, 9102]);
  t.equal(cfg.store.kind, 'file');
  t.equal(cfg.store.kind === 'file' ? cfg.store.dir : '', c?.volumeMounts.find((m) => m.name === 'store')?.mountPath);
});

void t.test('every flag given to the injector container is one `ccmesh injector` documents', async (t) => {
  // Loaded here so this file's other tests don't depend on the injector's modules.
  const { INJECTOR_USAGE } = await import('./injector.js');
  const r = await run(['--print']);
  const dep = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } }).find((o) => o.kind === 'Deployment');
  const args = dep?.spec?.template.spec.containers[0]?.args ?? [];
  t.equal(args[0], 'injector', 'the subcommand');
  const flags = args.filter((a) => a.startsWith('--'));
  t.equal(flags.length, 8);
  for (const f of flags) t.match(INJECTOR_USAGE, new RegExp(`\\[${f} `), `${f} is in the injector usage`);
});
