/**
 * `ccmesh install --print --values charts/ccmesh/ci/<name>.yaml` for every CI values file of the chart, compared
 * with reviewed golden files in k8s/testdata/install/ (UPDATE_GOLDEN=1 rewrites them). Each printed document is
 * parsed back and validated on its own against the Kubernetes schemas (kubernetes-models) — independently of the
 * builders' own validate() calls — and ServiceMonitors against their structural check. An install whose pods are not
 * pinned to the Coordinator warns on stderr; a pinned one doesn't, and flags pin exactly like the values file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { installCommand } from '../../cli/commands/k8s/install.js';
import { assertGolden, type GoldenAsserts } from '../../test/golden.js';
import { repoRoot } from '../../test/fixtures.js';
import { validatePodMonitor, type PodMonitor } from './pod-monitor.js';
import { validateServiceMonitor, type ServiceMonitor } from './service-monitor.js';
import { UNPINNED_WARNING } from './values.js';

const GOLDEN_DIR = join(repoRoot, 'k8s', 'testdata', 'install');
const CI_DIR = join(repoRoot, 'charts', 'ccmesh', 'ci');
function golden(t: GoldenAsserts, name: string, actual: string): void {
  assertGolden(t, GOLDEN_DIR, name, actual);
}

/** Validates one printed document by kind; throws on a schema violation or an unexpected kind. */
const VALIDATORS: Readonly<Record<string, (doc: Record<string, unknown>) => void>> = {
  Namespace: (d) => new Namespace(d as never).validate(),
  ServiceAccount: (d) => new ServiceAccount(d as never).validate(),
  ClusterRole: (d) => new ClusterRole(d as never).validate(),
  ClusterRoleBinding: (d) => new ClusterRoleBinding(d as never).validate(),
  Role: (d) => new Role(d as never).validate(),
  RoleBinding: (d) => new RoleBinding(d as never).validate(),
  Service: (d) => new Service(d as never).validate(),
  StatefulSet: (d) => new StatefulSet(d as never).validate(),
  PodDisruptionBudget: (d) => new PodDisruptionBudget(d as never).validate(),
  Deployment: (d) => new Deployment(d as never).validate(),
  MutatingWebhookConfiguration: (d) => new MutatingWebhookConfiguration(d as never).validate(),
  ServiceMonitor: (d) => validateServiceMonitor(d as unknown as ServiceMonitor),
  PodMonitor: (d) => validatePodMonitor(d as unknown as PodMonitor),
};

async function print(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await installCommand(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

function validateStream(t: { ok(v: unknown, m: string): unknown; doesNotThrow(f: () => unknown, m: string): unknown }, text: string): number {
  const docs = parseAllDocuments(text);
  for (const doc of docs) {
    t.ok(doc.errors.length === 0, `document parses: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as Record<string, unknown>;
    const kind = String(obj.kind);
    const v = VALIDATORS[kind];
    t.ok(v, `known kind ${kind}`);
    if (v) t.doesNotThrow(() => v(obj), `${kind}/${String((obj.metadata as { name?: unknown } | undefined)?.name)} is valid`);
  }
  return docs.length;
}

const ciFiles = readdirSync(CI_DIR).filter((f) => f.endsWith('.yaml')).sort();

void t.test('the chart has CI values files to test', async (t) => {
  t.ok(['default.yaml', 'monitoring.yaml', 'custom.yaml', 'pinned-values.yaml'].every((f) => ciFiles.includes(f)), ciFiles.join(', '));
});

/** The Coordinator pins of a CI values file ('' / [] when it sets none). */
function pinsOf(file: string): { coordinatorPolicy: string; meshOwner: string; coordinatorMeasurements: string[] } {
  const doc = parse(readFileSync(join(CI_DIR, file), 'utf8')) as { injector?: { coordinatorPolicy?: string; meshOwner?: string; coordinatorMeasurements?: string[] } } | null;
  return { coordinatorPolicy: doc?.injector?.coordinatorPolicy ?? '', meshOwner: doc?.injector?.meshOwner ?? '', coordinatorMeasurements: doc?.injector?.coordinatorMeasurements ?? [] };
}

for (const file of ciFiles) {
  void t.test(`install --print --values ci/${file}`, async (t) => {
    const { code, out, err } = await print(['--print', '--values', join(CI_DIR, file)]);
    t.equal(code, 0);
    golden(t, file, out);
    // default: 15 objects (with the injector's Role, RoleBinding and PodDisruptionBudget); monitoring adds two
    // ServiceMonitors; custom turns the Coordinator's PodDisruptionBudget off; etcd-ha has the injector on a supplied
    // certificate (no Role, RoleBinding) and adds the sidecars' PodMonitor.
    const expected: Record<string, number> = { 'default.yaml': 15, 'monitoring.yaml': 17, 'custom.yaml': 14, 'pinned-values.yaml': 15, 'etcd-ha.yaml': 14 };
    const n = validateStream(t, out);
    if (expected[file] !== undefined) t.equal(n, expected[file], 'document count');
    const pins = pinsOf(file);
    if (pins.coordinatorPolicy === '') t.equal(err, `WARNING: ${UNPINNED_WARNING}\n`, 'not pinned: one warning line on stderr');
    else t.equal(err, '', 'pinned: nothing on stderr');
  });
}

void t.test('install --print with the pin flags prints exactly what the pinned values file does', async (t) => {
  const pins = pinsOf('pinned-values.yaml');
  t.match(pins.coordinatorPolicy, /^[0-9a-f]{64}$/);
  t.equal(pins.coordinatorMeasurements.length, 1);
  const byFlags = await print(['--print', '--coordinator-policy', pins.coordinatorPolicy, '--mesh-owner', pins.meshOwner, ...pins.coordinatorMeasurements.flatMap((m) => ['--coordinator-measurement', m])]);
  t.equal(byFlags.code, 0);
  t.equal(byFlags.err, '');
  golden(t, 'pinned-values.yaml', byFlags.out);
  const plain = await print(['--print']);
  t.not(byFlags.out, plain.out, 'and the pins do change the output');
});

void t.test('install --print --namespace team-mesh (default values)', async (t) => {
  const { code, out } = await print(['--print', '--namespace', 'team-mesh']);
  t.equal(code, 0);
  golden(t, 'namespace-team-mesh.yaml', out);
  validateStream(t, out);
});

void t.test('the validators catch a schema violation (so passing them means something)', async (t) => {
  const { out } = await print(['--print']);
  const broken = out.replace('replicas: 1\n  podManagementPolicy', 'replicas: one\n  podManagementPolicy');
  t.not(broken, out);
  const sts = parseAllDocuments(broken).map((d) => d.toJS() as Record<string, unknown>).find((o) => o.kind === 'StatefulSet');
  t.throws(() => VALIDATORS.StatefulSet?.(sts ?? {}), /replicas must be integer/);
  const hook = parseAllDocuments(out.replace('sideEffects: None', 'sideEffects: Maybe')).map((d) => d.toJS() as Record<string, unknown>).find((o) => o.kind === 'MutatingWebhookConfiguration');
  t.throws(() => VALIDATORS.MutatingWebhookConfiguration?.(hook ?? {}), /sideEffects/);
});
