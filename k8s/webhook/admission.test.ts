/**
 * AdmissionReview round trips from real-shaped requests (testdata/admission, written as the API server sends them):
 * the response echoes the uid, the base64 JSONPatch applied to the admitted object yields exactly `inject(object)`,
 * refusals are `allowed: false` with the reason, and malformed reviews are data (never a throw). The same
 * diff-then-apply proof runs over the golden inject inputs and over fuzzed reviews.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CcmeshError } from '../../lib/errors.js';
import { repoRoot } from '../../test/fixtures.js';
import { ANNOTATIONS, INJECTED } from '../constants.js';
import { inject, type KubeObject } from '../inject/inject.js';
import { reviewAdmission, type AdmissionResult } from './admission.js';
import { applyPatch } from './apply-patch.js';
import { diffJson, isJsonObject, jsonEqual, type JsonPatchOp, type JsonValue } from './json-patch.js';

const DIR = join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission');
type Review = { request: { uid: string; object: { [key: string]: JsonValue }; [key: string]: JsonValue }; [key: string]: JsonValue };

function fixture(name: string): Review {
  return JSON.parse(readFileSync(join(DIR, name), 'utf8')) as Review;
}

function answered(r: AdmissionResult): Extract<AdmissionResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected an answer, got problems: ${r.problems.join('; ')}`);
  return r;
}

function decodePatch(r: Extract<AdmissionResult, { ok: true }>): { text: string; ops: JsonPatchOp[] } {
  const text = Buffer.from(r.review.response.patch ?? '', 'base64').toString('utf8');
  return { text, ops: JSON.parse(text) as JsonPatchOp[] };
}

function json(v: unknown): JsonValue {
  return JSON.parse(JSON.stringify(v)) as JsonValue;
}

function names(list: unknown): string[] {
  return Array.isArray(list) ? list.map((c) => (c as { name: string }).name) : [];
}

void t.test('Pod created by a ReplicaSet (no name, no metadata.namespace) is injected by patch', async (t) => {
  const review = fixture('pod-from-replicaset.json');
  const r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'injected');
  t.equal(r.subject, 'Pod shop/web-7d9f8b6c5-*', 'named from generateName and request.namespace');
  t.same(Object.keys(r.review), ['apiVersion', 'kind', 'response']);
  t.equal(r.review.apiVersion, 'admission.k8s.io/v1');
  t.equal(r.review.kind, 'AdmissionReview');
  t.equal(r.review.response.uid, review.request.uid, 'uid echoed');
  t.equal(r.review.response.allowed, true);
  t.equal(r.review.response.patchType, 'JSONPatch');
  const { text, ops } = decodePatch(r);
  t.same(ops, r.ops, 'the base64 patch is the reported operations');
  t.ok(text.includes('"/metadata/annotations/ccmesh.dev~1injected"'), 'annotation key escaped as ~1 in the path');
  t.notOk(ops.some((o) => o.path === '/metadata/namespace' || o.path === '/kind' || o.path === '/status'), 'nothing outside what inject changes');

  const patched = applyPatch(review.request.object, ops);
  t.same(patched, json(inject(structuredClone(review.request.object) as KubeObject)), 'patched object deep-equals inject(object)');
  const spec = (patched as { spec: { containers: unknown; initContainers?: unknown } }).spec;
  const all = [...names(spec.initContainers), ...names(spec.containers)];
  t.ok(all.includes(INJECTED.initializer) && all.includes(INJECTED.proxy), `injected containers present (${all.join(', ')})`);
  t.ok(all.includes('web'), 'the workload container is kept');
  t.ok(isJsonObject((patched as { metadata: { annotations: JsonValue } }).metadata.annotations) && ANNOTATIONS.injected in (patched as { metadata: { annotations: Record<string, string> } }).metadata.annotations);
});

void t.test('Deployment (dryRun) is injected in its pod template, the same as a real request', async (t) => {
  const review = fixture('deployment-create.json');
  const r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'injected');
  t.equal(r.subject, 'Deployment shop/api');
  const { ops } = decodePatch(r);
  t.ok(ops.length > 0);
  t.ok(ops.every((o) => o.path.startsWith('/spec/template/') || o.path.startsWith('/metadata/')), `paths stay in metadata and the template: ${ops.map((o) => o.path).join(' ')}`);
  t.same(applyPatch(review.request.object, ops), json(inject(structuredClone(review.request.object) as KubeObject)));
  const real = structuredClone(review);
  real.request.dryRun = false;
  t.same(answered(reviewAdmission(real)).review.response.patch, r.review.response.patch, 'dryRun answered exactly like a real request');
});

void t.test('opted-out Pod passes without a patch', async (t) => {
  const r = answered(reviewAdmission(fixture('pod-opted-out.json')));
  t.equal(r.outcome, 'unchanged');
  t.same(r.review.response, { uid: '1f6e2a9b-7c3d-4a5e-8b0f-9d2c1e4a6b37', allowed: true });
});

void t.test('hostNetwork Pod is refused with the reason', async (t) => {
  const r = answered(reviewAdmission(fixture('pod-host-network.json')));
  t.equal(r.outcome, 'refused');
  t.equal(r.review.response.allowed, false);
  t.equal(r.review.response.patch, undefined);
  t.match(r.review.response.status, { status: 'Failure', code: 403, reason: 'Forbidden' });
  t.match(r.review.response.status?.message, /^refusing to inject Pod web-7d9f8b6c5-\*: spec\.hostNetwork: is true/);
});

void t.test('a Pod whose readiness probe targets a captured port: rewritten through the admin port; refused with rewriting off; declared plain it stays', async (t) => {
  const review = fixture('pod-probe-captured-port.json');
  const annotations = (review.request.object.metadata as { annotations: Record<string, string> }).annotations;
  const original = structuredClone(review.request.object) as { spec: { containers: { readinessProbe: unknown }[] } };
  type Patched = { spec: { initContainers: { name: string; args: string[] }[]; containers: { readinessProbe: unknown }[] } };

  const rewritten = answered(reviewAdmission(review));
  t.equal(rewritten.outcome, 'injected');
  const p1 = applyPatch(review.request.object, rewritten.ops) as Patched;
  t.same(p1.spec.containers[0]?.readinessProbe, { ...(original.spec.containers[0]?.readinessProbe as object), httpGet: { path: '/app-health/web/readiness', port: 15020, scheme: 'HTTP' } }, 'the probe asks the sidecar, its other fields kept');
  const args = p1.spec.initContainers.find((c) => c.name === INJECTED.proxy)?.args ?? [];
  t.equal(args[args.indexOf('--app-probe') + 1], JSON.stringify({ container: 'web', kind: 'readiness', type: 'http', port: 8081, path: '/healthz', scheme: 'HTTP', headers: [], timeoutSeconds: 1 }), 'the original check pinned');
  t.notOk(args.includes('--exclude-ports'), 'no capture exclusion');

  annotations[ANNOTATIONS.rewriteProbes] = 'false';
  const r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'refused');
  t.equal(r.review.response.uid, review.request.uid, 'uid echoed');
  t.equal(r.review.response.allowed, false);
  t.equal(r.review.response.patch, undefined, 'no mutation');
  t.match(r.review.response.status, { status: 'Failure', code: 403, reason: 'Forbidden' });
  t.match(
    r.review.response.status?.message,
    /^refusing to inject Pod web-7d9f8b6c5-\*: spec\.containers\[0\]\.readinessProbe\.httpGet\.port: container "web" has a readiness probe \(httpGet\) on port 8081 \("health"\), which requires mtls/,
  );

  annotations[ANNOTATIONS.ingress] = 'http#8080##health#8081#plain';
  const plain = answered(reviewAdmission(review));
  t.equal(plain.outcome, 'injected', 'the port declared plain: the probe is allowed');
  const patched = applyPatch(review.request.object, plain.ops) as Patched;
  const proxy = patched.spec.initContainers.find((c) => c.name === INJECTED.proxy);
  t.same(proxy?.args.slice(0, 3), ['proxy', '--ingress', 'http#8080##health#8081#plain']);
  t.notOk(proxy?.args.includes('--exclude-ports'), 'no capture exclusion beyond what plain means');
  t.notOk(proxy?.args.includes('--app-probe'), 'nothing to probe through the sidecar');
  t.same(patched.spec.containers[0]?.readinessProbe, original.spec.containers[0]?.readinessProbe, 'the probe unchanged');
});

void t.test('a Kata policy computed over the un-injected Pod is refused, not invalidated', async (t) => {
  const r = answered(reviewAdmission(fixture('pod-policy-not-injected.json')));
  t.equal(r.outcome, 'policy-refused');
  t.equal(r.review.response.allowed, false);
  t.equal(r.review.response.patch, undefined, 'no mutation');
  t.equal(r.review.response.status?.code, 403);
  t.match(r.review.response.status?.message, /io\.katacontainers\.config\.agent\.policy annotation/);
  t.match(r.review.response.status?.message, /ccmesh generate/);

  const initdata = fixture('pod-from-replicaset.json');
  (initdata.request.object.metadata as { annotations: Record<string, string> }).annotations[ANNOTATIONS.kataInitData] = 'H4sIAAAAAAAA/wMAAAAAAAAAAAA=';
  t.equal(answered(reviewAdmission(initdata)).outcome, 'policy-refused', 'initdata pins the spec the same way');

  const deployment = fixture('deployment-create.json');
  ((deployment.request.object.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations)[ANNOTATIONS.kataPolicy] = 'cGFja2FnZSBhZ2VudF9wb2xpY3kK';
  t.equal(answered(reviewAdmission(deployment)).outcome, 'policy-refused', 'a policy on the pod template counts');
});

void t.test('an already-injected Pod passes with no patch, with or without a policy', async (t) => {
  const review = fixture('pod-from-replicaset.json');
  const injected = json(inject(structuredClone(review.request.object) as KubeObject)) as { [key: string]: JsonValue };
  review.request.object = injected;
  let r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'unchanged');
  t.same(r.review.response, { uid: review.request.uid, allowed: true });
  (injected.metadata as { annotations: Record<string, string> }).annotations[ANNOTATIONS.kataPolicy] = 'cGFja2FnZSBhZ2VudF9wb2xpY3kK';
  r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'unchanged', '"ccmesh generate" output (injected, then policy) is admitted as is');
  t.equal(r.review.response.allowed, true);
});

void t.test('a Pod created from a "ccmesh generate" template (API-server defaults, token mounts) passes untouched', async (t) => {
  // Fixture: inject output + a policy annotation, then what the API server adds before webhooks run: the
  // service-account admission plugin's token mount in every container (init containers too) and field defaults.
  const review = fixture('pod-generated-with-policy.json');
  const fresh = json(inject(structuredClone(review.request.object) as KubeObject));
  t.notOk(jsonEqual(fresh, review.request.object), 'a fresh injection would change this pod (so the policy hash would change)');
  const r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'pinned');
  t.same(r.review.response, { uid: '4c9b5d2e-0f6a-4d8b-9e3c-2a5f4b7d9e60', allowed: true }, 'allowed, no patch');
});

void t.test('operations and kinds the webhook does not mutate pass untouched', async (t) => {
  const del = fixture('pod-from-replicaset.json');
  Object.assign(del.request, { operation: 'DELETE', object: null, oldObject: del.request.object });
  t.same(answered(reviewAdmission(del)).review.response, { uid: del.request.uid, allowed: true });
  const upd = fixture('pod-from-replicaset.json');
  Object.assign(upd.request, { operation: 'UPDATE', oldObject: upd.request.object });
  t.equal(answered(reviewAdmission(upd)).outcome, 'skipped', 'a running Pod is never mutated on UPDATE');
  const depUpd = fixture('deployment-create.json');
  Object.assign(depUpd.request, { operation: 'UPDATE', oldObject: depUpd.request.object });
  t.equal(answered(reviewAdmission(depUpd)).outcome, 'injected', 'a Deployment template is injected on UPDATE');
  const cm = fixture('pod-from-replicaset.json');
  Object.assign(cm.request, { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' } } });
  t.equal(answered(reviewAdmission(cm)).outcome, 'skipped', 'no pod template, nothing to do');
});

void t.test('an object without TypeMeta is typed from request.kind; the patch does not touch kind', async (t) => {
  const review = fixture('pod-from-replicaset.json');
  delete review.request.object.kind;
  delete review.request.object.apiVersion;
  const r = answered(reviewAdmission(review));
  t.equal(r.outcome, 'injected');
  const patched = applyPatch(review.request.object, r.ops) as { [key: string]: JsonValue };
  t.equal(patched.kind, undefined);
  const expected = json(inject({ ...structuredClone(review.request.object), apiVersion: 'v1', kind: 'Pod' } as KubeObject)) as { [key: string]: JsonValue };
  delete expected.kind;
  delete expected.apiVersion;
  t.same(patched, expected);
});

void t.test('malformed reviews are reported with every problem, never thrown', async (t) => {
  const base = fixture('pod-from-replicaset.json');
  const cases: [string, (r: Review) => unknown, RegExp[]][] = [
    ['not an object', () => 'hello', [/the body is not a JSON object/]],
    ['array', () => [base], [/the body is not a JSON object/]],
    ['v1beta1', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v1beta1' }), [/apiVersion is "admission.k8s.io\/v1beta1", expected "admission.k8s.io\/v1"/]],
    ['wrong kind and no request', () => ({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), [/kind is "Pod"/, /request is missing/]],
    ['no uid, no object', (r) => ({ ...r, request: { ...r.request, uid: '', object: null } }), [/request.uid is missing/, /request.object is missing or not an object \(required for CREATE\)/]],
    ['bad operation', (r) => ({ ...r, request: { ...r.request, operation: 'PATCH' } }), [/request.operation is "PATCH", expected one of CREATE, UPDATE, DELETE, CONNECT/]],
    ['kind not an object', (r) => ({ ...r, request: { ...r.request, kind: 'Pod' } }), [/request.kind is not an object/]],
    ['object is an array', (r) => ({ ...r, request: { ...r.request, object: [] } }), [/request.object is missing or not an object/]],
    ['dryRun not boolean', (r) => ({ ...r, request: { ...r.request, dryRun: 'yes' } }), [/request.dryRun is not a boolean/]],
  ];
  for (const [name, make, expect] of cases) {
    const r = reviewAdmission(make(structuredClone(base)));
    t.equal(r.ok, false, name);
    if (!r.ok) for (const re of expect) t.ok(r.problems.some((p) => re.test(p)), `${name}: ${re} in ${JSON.stringify(r.problems)}`);
  }
});

const anyJson = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>;

void t.test('fuzz: random envelopes and random object parts never crash the review', async (t) => {
  const base = fixture('pod-from-replicaset.json');
  fc.assert(
    fc.property(anyJson, (body) => {
      reviewAdmission(body);
    }),
    { numRuns: 500 },
  );
  const fields = ['uid', 'kind', 'operation', 'namespace', 'dryRun', 'object', 'name'];
  fc.assert(
    fc.property(fc.constantFrom(...fields), anyJson, (field, value) => {
      const r = structuredClone(base);
      (r.request as Record<string, JsonValue>)[field] = value;
      reviewAdmission(r);
    }),
    { numRuns: 500 },
  );
  // Random values planted at random paths of the object: inject may refuse (a CcmeshError becomes allowed:false),
  // but nothing else may escape.
  const paths = [['metadata'], ['metadata', 'annotations'], ['metadata', 'annotations', ANNOTATIONS.ingress], ['spec'], ['spec', 'containers'], ['spec', 'containers', '0'], ['spec', 'containers', '0', 'ports'], ['spec', 'volumes'], ['spec', 'initContainers'], ['spec', 'hostNetwork']];
  const escaped: string[] = [];
  fc.assert(
    fc.property(fc.constantFrom(...paths), anyJson, (path, value) => {
      const r = structuredClone(base);
      let at: Record<string, JsonValue> = r.request.object;
      for (const p of path.slice(0, -1)) at = (at[p] ?? (at[p] = {})) as Record<string, JsonValue>;
      at[path[path.length - 1]!] = value;
      try {
        const out = reviewAdmission(r);
        if (out.ok && out.ops.length > 0) return jsonEqual(applyPatch(r.request.object, out.ops), json(inject(structuredClone(r.request.object) as KubeObject)));
      } catch (err) {
        if (!(err instanceof CcmeshError)) escaped.push(`${path.join('.')}=${JSON.stringify(value)}: ${String(err)}`);
        else escaped.push(`${path.join('.')}: CcmeshError ${err.code} thrown instead of answered`);
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.same(escaped.slice(0, 5), [], 'no fault escapes the review for a malformed object');
});

void t.test('golden inject inputs: diff then apply reproduces inject(input)', async (t) => {
  const dir = join(repoRoot, 'k8s', 'testdata', 'inject', 'in');
  if (!existsSync(dir)) {
    t.fail(`${dir} does not exist (the inject golden inputs)`);
    return;
  }
  let n = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const input = json(doc.toJS());
      if (!isJsonObject(input)) continue;
      let output: JsonValue;
      try {
        output = json(inject(structuredClone(input) as KubeObject));
      } catch (err) {
        if (err instanceof CcmeshError) continue; // a refusal case of the golden set
        throw err;
      }
      const ops = diffJson(input, output);
      t.same(applyPatch(input, ops), output, `${file}: ${String((input.metadata as { name?: string } | undefined)?.name)} (${ops.length} operations)`);
      n++;
    }
  }
  t.ok(n > 0, `${n} golden inputs round-tripped`);
});
