/**
 * Golden files of `inject`: every `k8s/testdata/inject/in/*.yaml` (one per kind plus annotation combinations) is
 * injected and compared with `golden/<same name>`. Refresh with UPDATE_GOLDEN=1 (then review the diff by eye).
 * Every golden output is also fed back through `inject` (idempotence: same object, same YAML and JSON bytes) and
 * validated against the Kubernetes schema of its kind (kubernetes-models 4.5, which knows init-container
 * `restartPolicy`). The ccmesh version appears as `<VERSION>` in the files so a release doesn't rewrite them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import YAML from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { VERSION } from '../../lib/version.js';
import { assertGolden } from '../../test/golden.js';
import { repoRoot } from '../../test/fixtures.js';
import { IMAGE_REPOSITORY } from '../constants.js';
import { inject, isInjected, type InjectOptions, type KubeObject } from './inject.js';

const DIR = join(repoRoot, 'k8s', 'testdata', 'inject');
const PLACEHOLDER = '<VERSION>';

/** Options per input file (default: none). */
const OPTIONS: Readonly<Record<string, Partial<InjectOptions>>> = {
  'job.yaml': { tee: 'sev-guest' },
  'pod-resources.yaml': { proxyMemoryLimit: '256Mi', prometheusAnnotations: true },
  'cronjob.yaml': { tee: 'configfs-tsm', coordinator: 'coordinator.ccmesh-system.svc:7777', image: 'registry.example/ccmesh:dev', coordinatorPolicy: 'c0'.repeat(32), meshOwner: '0e'.repeat(32), coordinatorMeasurements: ['5e'.repeat(48)] },
};

/** Inputs that must come back exactly as given (bytes included). */
const UNCHANGED = new Set(['opted-out.yaml', 'coordinator-role.yaml', 'service.yaml', 'already-injected.yaml']);

const VALIDATORS: Readonly<Record<string, (o: KubeObject) => void>> = {
  Pod: (o) => new Pod(o as never).validate(),
  Deployment: (o) => new Deployment(o as never).validate(),
  StatefulSet: (o) => new StatefulSet(o as never).validate(),
  DaemonSet: (o) => new DaemonSet(o as never).validate(),
  ReplicaSet: (o) => new ReplicaSet(o as never).validate(),
  Job: (o) => new Job(o as never).validate(),
  CronJob: (o) => new CronJob(o as never).validate(),
  Service: (o) => new Service(o as never).validate(),
};

/** Replaces the version in strings (`from` → `to`), so files hold a placeholder. */
function swapVersion(v: unknown, from: string, to: string): unknown {
  if (typeof v === 'string') {
    if (v === from) return to;
    if (v === `${IMAGE_REPOSITORY}:${from}`) return `${IMAGE_REPOSITORY}:${to}`;
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => swapVersion(x, from, to));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swapVersion(x, from, to)]));
  return v;
}

function load(text: string): KubeObject {
  return swapVersion(YAML.parse(text) as unknown, PLACEHOLDER, VERSION) as KubeObject;
}

function dump(o: KubeObject): string {
  return YAML.stringify(swapVersion(o, VERSION, PLACEHOLDER));
}

const inputs = readdirSync(join(DIR, 'in')).filter((f) => f.endsWith('.yaml')).sort();

void t.test('there is an input for every pod-spawning kind', async (t) => {
  const kinds = new Set(inputs.map((f) => (YAML.parse(readFileSync(join(DIR, 'in', f), 'utf8')) as KubeObject).kind));
  for (const k of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) t.ok(kinds.has(k), `an input of kind ${k}`);
});

for (const name of inputs) {
  void t.test(name, async (t) => {
    const inputText = readFileSync(join(DIR, 'in', name), 'utf8');
    const input = load(inputText);
    const before = structuredClone(input);
    const opts = OPTIONS[name] ?? {};
    const out = inject(input, opts);
    t.ok(isDeepStrictEqual(input, before), 'the input object is not modified');
    t.not(out, input, 'a new object is returned');

    const text = dump(out);
    const file = join(DIR, 'golden', name);
    assertGolden(t, join(DIR, 'golden'), name, text, `golden/${name}`);

    if (UNCHANGED.has(name)) {
      t.ok(isDeepStrictEqual(out, input), 'returned equal to the input');
      t.equal(JSON.stringify(out), JSON.stringify(input), 'same JSON bytes as the input (key order kept)');
      t.equal(YAML.stringify(out), YAML.stringify(input), 'same YAML bytes as the input');
    } else {
      t.ok(isInjected(out), 'the output carries the injected marker');
    }

    // Idempotence on the golden output itself, as a later `ccmesh generate` or the webhook would read it.
    const golden = load(readFileSync(file, 'utf8'));
    const again = inject(golden, opts);
    t.ok(isDeepStrictEqual(again, golden), 'inject(golden) deep-equals golden');
    t.equal(JSON.stringify(again), JSON.stringify(golden), 'inject(golden) has the same JSON bytes');
    t.equal(dump(again), readFileSync(file, 'utf8'), 'inject(golden) has the same YAML bytes');

    const kind = String(out.kind);
    const validate = VALIDATORS[kind];
    if (!validate) {
      t.fail(`no schema validator for kind ${kind}`);
      return;
    }
    t.doesNotThrow(() => validate(out), `the output is a schema-valid ${kind}`);
  });
}

void t.test('the schema validator catches a broken injected spec (the validation step can fail)', async (t) => {
  const out = inject(load(readFileSync(join(DIR, 'in', 'pod.yaml'), 'utf8')));
  const spec = out.spec as { initContainers: Record<string, unknown>[] };
  spec.initContainers[1]!.restartPolicy = 42;
  t.throws(() => new Pod(out as never).validate(), 'a numeric restartPolicy is refused by the schema');
});
