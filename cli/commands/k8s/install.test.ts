/**
 * `ccmesh install` through the CLI router: exit codes and messages for --help, a missing --print, bad values
 * files (unknown key, etcd without endpoints, replicas > 1 on the file store, a lone or malformed pin, unreadable, malformed YAML) and a bad namespace;
 * that the printed Coordinator args are accepted by the real `ccmesh coordinator` flag parser; and the Coordinator
 * pins: the warning without them, `--workspace` filling both from a workspace made by `ccmesh manifest init`
 * (before and after the first set), flags overriding it, `--print-pins`, and the refusals of unusable workspaces.
 */
import { createPublicKey } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { COORDINATOR_FLAGS, readCoordinatorConfig } from '../../../coordinator/config.js';
import { meshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
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
  t.match(r.stdout, /ccmesh install --print \[--values FILE\] \[--namespace ccmesh-system\] \[--workspace DIR\]\n\s+\[--coordinator-policy HASH\] \[--mesh-owner HEX32\] \[--coordinator-measurement HEX48\]\.\.\. \| kubectl apply -f -/);
  t.match(r.stdout, /ccmesh install --print-pins /);
});

void t.test('without --print: not supported, suggests kubectl, exit 64, nothing printed', async (t) => {
  const r = await run([]);
  t.equal(r.code, 64);
  t.equal(r.stdout, '');
  t.match(r.stderr, /no Kubernetes client/);
  t.match(r.stderr, /ccmesh install --print \| kubectl apply -f -/);
});

void t.test('--print with default values prints YAML, and warns on stderr that pods do not verify the Coordinator', async (t) => {
  const r = await run(['--print']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^---\napiVersion: v1\nkind: Namespace\nmetadata:\n {2}name: ccmesh-system\n/);
  t.notMatch(r.stdout, /--coordinator-policy|--mesh-owner|--coordinator-measurement/);
  t.equal(r.stderr.split('\n').length, 2, 'one line');
  t.match(r.stderr, /^WARNING: injector\.coordinatorPolicy, injector\.meshOwner and injector\.coordinatorMeasurements are not set: injected pods will not verify the Coordinator or its mesh owner .*--workspace DIR/);
});

const BAD: readonly { name: string; text: string; stderr: RegExp }[] = [
  { name: 'unknown key', text: 'coordinator:\n  replica: 2\n', stderr: /coordinator\.replica: got "2", expected no such key \("coordinator" has replicas, .*\); did you mean coordinator\.replicas\?/ },
  { name: 'a type the chart schema refuses', text: 'injector:\n  timeoutSeconds: "10"\n', stderr: /injector\.timeoutSeconds: got "10 \(a string\)", expected an integer from 1 to 30/ },
  { name: 'etcd without endpoints', text: 'coordinator:\n  store:\n    type: etcd\n', stderr: /coordinator\.store\.etcdEndpoints: got "\[\]".*needs coordinator\.store\.etcdEndpoints/ },
  { name: 'replicas on the file store', text: 'coordinator:\n  replicas: 3\n', stderr: /coordinator\.replicas: got "3".*file store lives on one pod's volume/ },
  { name: 'malformed YAML', text: 'coordinator: [\n', stderr: /not valid YAML/ },
  { name: 'duplicate key', text: 'image:\n  tag: a\n  tag: b\n', stderr: /not valid YAML/ },
  { name: 'policy without owner', text: `injector:\n  coordinatorPolicy: ${'ab'.repeat(32)}\n`, stderr: /injector\.meshOwner: got "", expected 64 lowercase hex digits, since injector\.coordinatorPolicy is set/ },
  { name: 'owner without policy', text: `injector:\n  meshOwner: ${'cd'.repeat(32)}\n`, stderr: /injector\.coordinatorPolicy: got "", expected 64 lowercase hex digits, since injector\.meshOwner is set/ },
  { name: 'measurements without policy and owner', text: `injector:\n  coordinatorMeasurements: [${'ef'.repeat(48)}]\n`, stderr: /injector\.coordinatorPolicy: got "", expected .*since injector\.coordinatorMeasurements is set[^]*injector\.meshOwner: got ""/ },
  { name: 'malformed policy', text: `injector:\n  coordinatorPolicy: ${'AB'.repeat(32)}\n  meshOwner: ${'cd'.repeat(32)}\n`, stderr: /injector\.coordinatorPolicy: got "(AB){32}", expected 64 lowercase hex digits \(the Coordinator's policy hash\), or empty/ },
  { name: 'short owner', text: `injector:\n  coordinatorPolicy: ${'ab'.repeat(32)}\n  meshOwner: ${'cd'.repeat(16)}\n`, stderr: /injector\.meshOwner: got "(cd){16}", expected 64 lowercase hex digits \(the mesh owner pin\)/ },
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
  t.equal(flags.length, 9);
  for (const f of flags) t.match(INJECTOR_USAGE, new RegExp(`\\[${f} `), `${f} is in the injector usage`);
  const pinned = await run(['--print', '--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd'.repeat(32), '--coordinator-measurement', 'ef'.repeat(48)]);
  const pinnedArgs = parseAllDocuments(pinned.stdout).map((d) => d.toJS() as { kind?: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } }).find((o) => o.kind === 'Deployment')?.spec?.template.spec.containers[0]?.args ?? [];
  t.same(pinnedArgs.filter((a) => a.startsWith('--')).filter((f) => !flags.includes(f)), ['--coordinator-policy', '--mesh-owner', '--coordinator-measurement']);
  for (const f of ['--coordinator-policy', '--mesh-owner', '--coordinator-measurement']) t.match(INJECTOR_USAGE, new RegExp(`[[ ]${f} `), `${f} is in the injector usage`);
});

void t.test('the pinned injector args pass the real `ccmesh injector` flag reader and inject\'s option checks', async (t) => {
  // injectorCommand reads its flags, has inject check the pins, then stops (no Kubernetes API here) before it
  // listens: reaching that stop means the printed args were accepted.
  const { injectorCommand } = await import('./injector.js');
  const accepted = async (argv: string[]): Promise<string> => {
    const args = injectorArgs((await run(['--print', ...argv])).stdout);
    const local = args.slice(1).map((a, i, all) => (all[i - 1] === '--port' || all[i - 1] === '--metrics-port' ? '0' : a));
    let err = '';
    const r = await injectorCommand([...local, '--listen-host', '127.0.0.1'], { stdout: () => undefined, stderr: (s) => (err += s) }).then((code) => `exit ${code}`, (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)));
    return r + err;
  };
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined) {
    t.comment('skipped: KUBERNETES_SERVICE_HOST is set, so the injector would talk to that API server');
    return;
  }
  t.match(await accepted(['--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd'.repeat(32), '--coordinator-measurement', 'ef'.repeat(48), '--coordinator-measurement', '01'.repeat(48)]), /no Kubernetes API is configured/, 'pinned');
  t.match(await accepted([]), /no Kubernetes API is configured/, 'not pinned');
  // And the check is real: the injector refuses a policy without its measurement.
  const args = injectorArgs((await run(['--print', '--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd'.repeat(32), '--coordinator-measurement', 'ef'.repeat(48)])).stdout);
  const cut = args.indexOf('--coordinator-measurement');
  const without = [...args.slice(1, cut), ...args.slice(cut + 2)];
  await t.rejects(injectorCommand(without, { stdout: () => undefined, stderr: () => undefined }), { name: 'ConfigError', message: /--coordinator-measurement/ });
});

// ---- the Coordinator pins from a workspace ----------------------------------------------------------------------

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The injector Deployment's args in printed install YAML. */
function injectorArgs(yamlText: string): string[] {
  const dep = parseAllDocuments(yamlText).map((d) => d.toJS() as Json).find((o) => o.kind === 'Deployment');
  return (dep?.spec?.template?.spec?.containers?.[0]?.args ?? []) as string[];
}
const argAfter = (args: readonly string[], flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);

const COORD_HASH = '61'.repeat(32);
/** The launch measurement `manifest init --snp-measurement` puts into the workspace's reference values. */
const MEAS = 'ab'.repeat(48);
/** A workspace made by `ccmesh manifest init` (once: RSA-4096 key generation is slow), copied per test. */
let baseWorkspace: string | undefined;
async function workspace(name: string, coordinatorHashes: readonly string[] = [COORD_HASH]): Promise<string> {
  if (baseWorkspace === undefined) {
    baseWorkspace = join(dir, 'ws-base');
    const init = await runCli(['manifest', 'init', '--dir', baseWorkspace, '--snp-measurement', MEAS], { stdout: () => undefined, stderr: (s) => t.comment(s) });
    if (init !== 0) throw new Error(`manifest init exited ${init}`);
  }
  const ws = join(dir, name);
  cpSync(baseWorkspace, ws, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  coordinatorHashes.forEach((h, i) => {
    manifest.policies[h] = { sans: [`coordinator-${i}`], workloadSecretId: `coordinator-${i}`, role: 'coordinator' };
  });
  // An ordinary workload, which must not be taken for the Coordinator.
  manifest.policies['77'.repeat(32)] = { sans: ['web'], workloadSecretId: 'web', role: '' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return ws;
}

/** The mesh owner pin of a workspace's key files, computed here from the keys (not from the manifest). */
function pinOfKeys(ws: string): string {
  const spki = (f: string): Uint8Array => new Uint8Array(createPublicKey(readFileSync(join(ws, 'keys', f))).export({ type: 'spki', format: 'der' }));
  return Buffer.from(meshOwnerPin([spki('workload-owner.pem')], [spki('seedshare-owner.pem')])).toString('hex');
}

void t.test('--workspace before the first set: the coordinator-role policy, the reference measurement, the pin of the owner keys', async (t) => {
  const ws = await workspace('ws-fresh');
  const r = await run(['--print', '--workspace', ws]);
  t.equal(r.code, 0, r.stderr);
  const args = injectorArgs(r.stdout);
  t.equal(argAfter(args, '--coordinator-policy'), COORD_HASH, 'the key of the one entry with role "coordinator"');
  t.equal(argAfter(args, '--mesh-owner'), pinOfKeys(ws), 'the owner pin of the workspace keys');
  t.same(args.filter((_, i) => args[i - 1] === '--coordinator-measurement'), [MEAS], 'the manifest\'s launch measurement');
  t.notMatch(r.stderr, /WARNING/, 'no warning: pods are pinned');
  t.match(r.stderr, new RegExp(`injected pods pin the Coordinator policy ${COORD_HASH} \\(.*manifest\\.json\\), the Coordinator launch measurement ${MEAS} \\(the referenceValues of .*manifest\\.json\\), the mesh owner ${pinOfKeys(ws)} \\(the owner keys of .*manifest\\.json: the first ccmesh set makes them the mesh owner\\)`));
  // The same bytes as giving the pins by flags.
  const byFlags = await run(['--print', '--coordinator-policy', COORD_HASH, '--mesh-owner', pinOfKeys(ws), '--coordinator-measurement', MEAS]);
  t.equal(r.stdout, byFlags.stdout, 'same install as the explicit flags');
});

void t.test('--workspace after the first set: the mesh-owner file wins over the manifest\'s keys', async (t) => {
  const ws = await workspace('ws-set');
  const owner = '5e'.repeat(32);
  writeFileSync(join(ws, 'mesh-owner'), `${owner}\n`);
  const r = await run(['--print', '--workspace', ws, '--namespace', 'mesh-ops']);
  t.equal(r.code, 0, r.stderr);
  const args = injectorArgs(r.stdout);
  t.same([argAfter(args, '--coordinator-policy'), argAfter(args, '--mesh-owner')], [COORD_HASH, owner]);
  t.equal(argAfter(args, '--coordinator'), 'coordinator-ready.mesh-ops.svc:7777');
  t.match(r.stderr, new RegExp(`mesh owner ${owner} \\(.*ws-set/mesh-owner\\)`));
});

void t.test('flags override the workspace, and the workspace a values file, key by key', async (t) => {
  const ws = await workspace('ws-override');
  const policy = 'a1'.repeat(32);
  const owner = 'b2'.repeat(32);
  const meas = 'C3'.repeat(48);
  const all = await run(['--print', '--workspace', ws, '--coordinator-policy', policy, '--mesh-owner', owner, '--coordinator-measurement', meas]);
  t.equal(all.code, 0, all.stderr);
  t.equal(all.stderr, '', 'nothing taken from the workspace: nothing to say');
  const allArgs = injectorArgs(all.stdout);
  t.same([argAfter(allArgs, '--coordinator-policy'), argAfter(allArgs, '--mesh-owner'), argAfter(allArgs, '--coordinator-measurement')], [policy, owner, meas.toLowerCase()], 'measurement flags are lowercased like the injector\'s');
  const ownerOnly = await run(['--print', '--workspace', ws, '--mesh-owner', owner]);
  t.equal(ownerOnly.code, 0, ownerOnly.stderr);
  t.same([argAfter(injectorArgs(ownerOnly.stdout), '--coordinator-policy'), argAfter(injectorArgs(ownerOnly.stdout), '--mesh-owner')], [COORD_HASH, owner]);
  const values = file('pinned-other.yaml', `injector:\n  coordinatorPolicy: ${'c3'.repeat(32)}\n  meshOwner: ${'d4'.repeat(32)}\n  coordinatorMeasurements: [${'e5'.repeat(48)}]\n  tee: sev-guest\n`);
  const overValues = await run(['--print', '--values', values, '--workspace', ws]);
  t.equal(overValues.code, 0, overValues.stderr);
  const args = injectorArgs(overValues.stdout);
  t.same([argAfter(args, '--coordinator-policy'), argAfter(args, '--mesh-owner'), argAfter(args, '--coordinator-measurement'), argAfter(args, '--tee')], [COORD_HASH, pinOfKeys(ws), MEAS, 'sev-guest'], 'the workspace pins, the file\'s other values');
  const policyOverValues = await run(['--print', '--values', values, '--coordinator-policy', policy]);
  const pov = injectorArgs(policyOverValues.stdout);
  t.same([argAfter(pov, '--coordinator-policy'), argAfter(pov, '--mesh-owner'), argAfter(pov, '--coordinator-measurement')], [policy, 'd4'.repeat(32), 'e5'.repeat(48)]);
  // Two coordinator-role entries are fine once a flag says which one the installed Coordinator runs.
  const two = await workspace('ws-two-chosen', [COORD_HASH, 'e5'.repeat(32)]);
  const chosen = await run(['--print', '--workspace', two, '--coordinator-policy', 'e5'.repeat(32)]);
  t.equal(chosen.code, 0, chosen.stderr);
  t.equal(argAfter(injectorArgs(chosen.stdout), '--coordinator-policy'), 'e5'.repeat(32));
});

void t.test('--print-pins prints the three pins as a values file that install and the chart read', async (t) => {
  const ws = await workspace('ws-pins');
  const r = await run(['--print-pins', '--workspace', ws]);
  t.equal(r.code, 0, r.stderr);
  t.same(parse(r.stdout), { injector: { coordinatorPolicy: COORD_HASH, meshOwner: pinOfKeys(ws), coordinatorMeasurements: [MEAS] } });
  const viaValues = await run(['--print', '--values', file('printed-pins.yaml', r.stdout)]);
  const viaWorkspace = await run(['--print', '--workspace', ws]);
  t.equal(viaValues.stdout, viaWorkspace.stdout, 'the same install either way');
  t.equal(viaValues.stderr, '', 'pinned by the values file: no warning');
  const none = await run(['--print-pins']);
  t.equal(none.code, 64);
  t.match(none.stderr, /no pins to print; pass --workspace DIR/);
  const both = await run(['--print', '--print-pins', '--workspace', ws]);
  t.equal(both.code, 64);
  t.match(both.stderr, /--print-pins: got "true", expected either --print or --print-pins, not both/);
});

void t.test('refused: a workspace without exactly one coordinator-role policy, naming its manifest (exit 64)', async (t) => {
  const none = await workspace('ws-none', []);
  const r0 = await run(['--print', '--workspace', none]);
  t.equal(r0.code, 64);
  t.equal(r0.stdout, '', 'nothing printed');
  t.ok(r0.stderr.includes(`${join(none, 'manifest.json')} has no policies entry with role "coordinator"`), r0.stderr);
  const two = await workspace('ws-two', [COORD_HASH, 'e5'.repeat(32)]);
  const r2 = await run(['--print', '--workspace', two]);
  t.equal(r2.code, 64);
  t.equal(r2.stdout, '');
  t.match(r2.stderr, /ws-two\/manifest\.json has 2 policies entries with role "coordinator" \(/);
  t.match(r2.stderr, new RegExp(`${COORD_HASH}, ${'e5'.repeat(32)}\\); pass the one the installed Coordinator runs with --coordinator-policy HASH`));
  const pins = await run(['--print-pins', '--workspace', two]);
  t.equal(pins.code, 64, '--print-pins too');
});

void t.test('refused: a workspace that names no launch measurement, unless --coordinator-measurement gives one (exit 64)', async (t) => {
  const ws = await workspace('ws-unmeasured');
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as Json;
  manifest.referenceValues.snp = [{ allowUnmeasured: true }];
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const r = await run(['--print', '--workspace', ws]);
  t.equal(r.code, 64);
  t.equal(r.stdout, '');
  t.match(r.stderr, /WARNING: .*ws-unmeasured\/manifest\.json: .*allowUnmeasured/, 'the manifest\'s own trust warning');
  t.match(r.stderr, /ws-unmeasured\/manifest\.json names no launch measurement in its referenceValues .*pass the Coordinator's with --coordinator-measurement HEX48/);
  const given = await run(['--print', '--workspace', ws, '--coordinator-measurement', 'cd'.repeat(48)]);
  t.equal(given.code, 0, given.stderr);
  t.equal(argAfter(injectorArgs(given.stdout), '--coordinator-measurement'), 'cd'.repeat(48));
});

void t.test('refused: unusable workspaces and malformed or lone pin flags (exit 64, nothing printed)', async (t) => {
  const ws = await workspace('ws-bad-owner');
  writeFileSync(join(ws, 'mesh-owner'), 'not-a-pin\n');
  const broken = await workspace('ws-broken-manifest');
  writeFileSync(join(broken, 'manifest.json'), '{"policies": 1}');
  const cases: { name: string; argv: string[]; stderr: RegExp }[] = [
    { name: 'malformed mesh-owner file', argv: ['--workspace', ws], stderr: /ws-bad-owner\/mesh-owner is not a mesh owner pin/ },
    { name: 'manifest the Coordinator would refuse', argv: ['--workspace', broken], stderr: /invalid manifest .*ws-broken-manifest\/manifest\.json/ },
    { name: 'no workspace there', argv: ['--workspace', join(dir, 'nowhere')], stderr: /cannot read the manifest .*nowhere\/manifest\.json/ },
    { name: 'empty --workspace', argv: ['--workspace', ''], stderr: /--workspace: got "", expected a workspace directory/ },
    { name: 'policy in upper case', argv: ['--coordinator-policy', 'AB'.repeat(32), '--mesh-owner', 'cd'.repeat(32), '--coordinator-measurement', MEAS], stderr: /--coordinator-policy: got "(AB){32}", expected 64 lowercase hex digits \(the Coordinator's policy hash\)/ },
    { name: 'short owner', argv: ['--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd', '--coordinator-measurement', MEAS], stderr: /--mesh-owner: got "cd", expected 64 lowercase hex digits \(the mesh owner pin\)/ },
    { name: 'short measurement', argv: ['--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd'.repeat(32), '--coordinator-measurement', 'ab'.repeat(32)], stderr: /--coordinator-measurement: got "(ab){32}", expected 48 bytes of hex/ },
    { name: 'policy flag alone', argv: ['--coordinator-policy', 'ab'.repeat(32)], stderr: /install values from --coordinator-policy:\n {2}injector\.meshOwner: got "", expected 64 lowercase hex digits, since injector\.coordinatorPolicy is set/ },
    { name: 'owner flag alone', argv: ['--mesh-owner', 'cd'.repeat(32)], stderr: /injector\.coordinatorPolicy: got "", expected .*since injector\.meshOwner is set/ },
    { name: 'policy and owner without a measurement', argv: ['--coordinator-policy', 'ab'.repeat(32), '--mesh-owner', 'cd'.repeat(32)], stderr: /injector\.coordinatorMeasurements: got "\[\]", expected at least one launch measurement \(96 lowercase hex digits\), since injector\.coordinatorPolicy and injector\.meshOwner are set/ },
  ];
  for (const c of cases) {
    const r = await run(['--print', ...c.argv]);
    t.equal(r.code, 64, c.name);
    t.equal(r.stdout, '', `${c.name}: nothing printed`);
    t.match(r.stderr, c.stderr, c.name);
  }
});
