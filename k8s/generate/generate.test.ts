/**
 * The generate core in-process: entries, skips, warnings and the genpolicy wiring through a fake generator.
 * Expected hashes are SHA-256 of documents this test writes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ANNOTATIONS, INJECTED } from '../constants.js';
import { generate, type GenerateInput } from './generate.js';
import { NO_POLICY_GENERATOR, type PolicyGenerator } from './genpolicy.js';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const CONFIG = { namespace: 'team', clusterDomain: 'cluster.local', inject: {} };

/** Adds `package gen_<name>` as the policy of every Deployment/Job/Pod it finds, like genpolicy would. */
class FakePolicyGenerator implements PolicyGenerator {
  readonly calls: string[] = [];
  annotate(path: string): Promise<boolean> {
    this.calls.push(path);
    const docs = parseAllDocuments(readFileSync(path, 'utf8'));
    const out = docs.map((d) => {
      const o = d.toJS() as { kind: string; metadata: { name: string }; spec: { template: { metadata?: { annotations?: Record<string, string> } } } };
      if (o.kind === 'Deployment' || o.kind === 'Job') {
        const meta = (o.spec.template.metadata ??= {});
        (meta.annotations ??= {})[ANNOTATIONS.kataPolicy] = b64(`package gen_${o.metadata.name}\n`);
      }
      return JSON.stringify(o);
    });
    writeFileSync(path, out.join('\n---\n'));
    return Promise.resolve(true);
  }
}

const deployment = (name: string, annotations: Record<string, string> = {}, extra = ''): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}, tier: t}
      annotations: ${JSON.stringify(annotations)}
    spec:
${extra}      containers: [{name: app, image: example/app:1}]
`;

async function run(inputs: GenerateInput[], gen: PolicyGenerator = NO_POLICY_GENERATOR) {
  const scratchDir = mkdtempSync(join(tmpdir(), 'ccmesh-gen-test-'));
  try {
    return await generate(inputs, CONFIG, { policyGenerator: gen, scratchDir });
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

void t.test('without genpolicy: entries for annotated pods, "no policy" skips, stale-policy warnings', async (t) => {
  const rego = 'package mine\n';
  const res = await run([
    { name: 'a.yaml', text: deployment('with-policy', { [ANNOTATIONS.kataPolicy]: b64(rego) }) },
    { name: 'b.yaml', text: deployment('without') + '---\napiVersion: v1\nkind: Service\nmetadata: {name: front}\nspec: {selector: {tier: t}}\n' },
    { name: 'c.yaml', text: deployment('opted-out', { [ANNOTATIONS.inject]: 'false', [ANNOTATIONS.kataPolicy]: b64('package x\n') }) },
  ]);
  t.equal(res.genpolicy, 'absent');
  t.same(res.reports.map((r) => [r.ref.name, r.entry ? 'entry' : r.skipped]), [
    ['with-policy', 'entry'],
    ['without', `no policy (no ${ANNOTATIONS.kataPolicy} or ${ANNOTATIONS.kataInitData} annotation)`],
    ['opted-out', `not in the mesh (${ANNOTATIONS.inject}: "false")`],
  ]);
  const e = res.entries[0]!;
  t.equal(e.policyHash, sha256(rego));
  t.equal(Buffer.from(e.document).toString(), rego);
  t.equal(e.workloadSecretId, 'apps/v1/Deployment/team/with-policy', 'namespace from --namespace when the document names none');
  t.same(e.sans, ['with-policy', 'with-policy.team', 'with-policy.team.svc', 'with-policy.team.svc.cluster.local', 'front', 'front.team', 'front.team.svc', 'front.team.svc.cluster.local']);
  t.match(res.reports[0]!.warnings, [/predates injection/]);
  t.match(res.outputs[0]!.text, new RegExp(`name: ${INJECTED.initializer}`), 'the output is injected');
  t.equal(res.outputs[2]!.text, undefined, 'an opted-out file is unchanged');
  t.end();
});

void t.test('an already injected resource keeps its policy without a warning, and its file is unchanged', async (t) => {
  const first = await run([{ name: 'a.yaml', text: deployment('w', { [ANNOTATIONS.kataPolicy]: b64('package w\n') }) }]);
  const again = await run([{ name: 'a.yaml', text: first.outputs[0]!.text! }]);
  t.equal(again.outputs[0]!.text, undefined);
  t.same(again.reports[0]!.warnings, []);
  t.equal(again.entries[0]!.policyHash, sha256('package w\n'));
  t.end();
});

void t.test('with genpolicy: it annotates copies of the injected files; its policies are the identities', async (t) => {
  const gen = new FakePolicyGenerator();
  const res = await run([
    { name: 'a.yaml', text: deployment('web', { [ANNOTATIONS.kataPolicy]: b64('package stale\n') }) },
    { name: 'cm.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n' },
  ], gen);
  t.equal(res.genpolicy, 'ran');
  t.equal(gen.calls.length, 1, 'only files with pods go to genpolicy');
  t.equal(res.entries[0]!.policyHash, sha256('package gen_web\n'));
  t.same(res.reports[0]!.warnings, [], 'no stale warning: genpolicy ran after injection');
  t.match(res.outputs[0]!.text, /ccmesh-initializer/);
  t.match(res.outputs[0]!.text, new RegExp(b64('package gen_web\n').slice(0, 20)));
  t.equal(res.outputs[1]!.text, undefined);
  t.end();
});

void t.test('the Coordinator\'s pod gets role coordinator and is not injected', async (t) => {
  const res = await run([{ name: 'c.yaml', text: deployment('coordinator', { [ANNOTATIONS.podRole]: 'coordinator', [ANNOTATIONS.kataPolicy]: b64('package c\n') }) }]);
  t.equal(res.entries[0]!.role, 'coordinator');
  t.equal(res.outputs[0]!.text, undefined);
  t.same(res.reports[0]!.warnings, []);
  t.end();
});

void t.test('ccmesh\'s own injector pod (app.kubernetes.io/name: ccmesh) is left alone; the Coordinator\'s still gets its entry', async (t) => {
  const own = (name: string, ann: Record<string, string>): string => deployment(name, ann).replace(`labels: {app: ${name}, tier: t}`, 'labels: {app.kubernetes.io/name: ccmesh}');
  // The injector's liveness probe on a port the mesh would capture: inject would rewrite it.
  const injector = own('ccmesh-injector', {}).replace('containers: [{name: app, image: example/app:1}]', 'containers: [{name: injector, image: x, livenessProbe: {httpGet: {port: 9103}}}]');
  const res = await run([{ name: 'install.yaml', text: `${injector}---\n${own('coordinator', { [ANNOTATIONS.podRole]: 'coordinator', [ANNOTATIONS.kataPolicy]: b64('package c\n') })}` }]);
  t.equal(res.outputs[0]!.text, undefined, 'nothing injected');
  t.match(res.reports.find((r) => r.ref.name === 'ccmesh-injector')?.skipped, /ccmesh's own control-plane pod/);
  t.same(res.entries.map((e) => [e.role, e.workloadSecretId]), [['coordinator', 'apps/v1/Deployment/team/coordinator']]);
  const other = await run([{ name: 'x.yaml', text: injector.replace('app.kubernetes.io/name: ccmesh', 'app.kubernetes.io/name: other') }]);
  t.match(other.outputs[0]!.text, /name: ccmesh-proxy/, 'control: the same pod without the label is injected…');
  t.match(other.outputs[0]!.text, /path: \/app-health\/injector\/liveness/, '… its probe rewritten through the sidecar');
  t.end();
});

void t.test('every refusal of a run is reported at once, inject\'s first (then genpolicy does not run)', async (t) => {
  const gen = new FakePolicyGenerator();
  const both = await run([
    { name: 'a.yaml', text: deployment('h', {}, '      hostNetwork: true\n') },
    { name: 'b.yaml', text: `${deployment('ok', {})}---\n${deployment('s', {}, '      shareProcessNamespace: true\n')}` },
  ], gen).then(() => undefined, (err: unknown) => err);
  t.same(gen.calls, [], 'genpolicy did not run');
  t.ok(both instanceof CcmeshError && both.code === ErrorCode.K8S_INJECT_REFUSED, 'one K8S_INJECT_REFUSED');
  t.match((both as Error).message, /^2 resources refused:\n- a\.yaml: refusing to inject Deployment h: [^\n]*hostNetwork[^\n]*\n- b\.yaml: refusing to inject Deployment s: [^\n]*shareProcessNamespace/);
  t.notMatch((both as Error).message, /Deployment ok/);
  const policies = await run([
    { name: 'a.yaml', text: deployment('i', { [ANNOTATIONS.workloadSecretId]: 'has space', [ANNOTATIONS.kataPolicy]: b64('package i\n') }) },
    { name: 'b.yaml', text: deployment('p', { [ANNOTATIONS.kataPolicy]: 'not base64!' }) },
  ]).then(() => undefined, (err: unknown) => err);
  t.match((policies as Error).message, /^2 resources refused:\n- [^\n]*team\/i[^\n]*not a SPIFFE path[\s\S]*\n- Deployment team\/p \(b\.yaml\)[^\n]*base64/, 'the policy stage\'s refusals too');
  t.end();
});

void t.test('refusals: inject\'s, an id that is no SPIFFE path, malformed policies', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ['hostNetwork', deployment('h', {}, '      hostNetwork: true\n'), ErrorCode.K8S_INJECT_REFUSED, /hostNetwork/],
    ['bad id', deployment('i', { [ANNOTATIONS.workloadSecretId]: 'has space', [ANNOTATIONS.kataPolicy]: b64('package i\n') }), ErrorCode.K8S_POLICY_INVALID, /not a SPIFFE path/],
    ['bad base64', deployment('p', { [ANNOTATIONS.kataPolicy]: 'not base64!' }), ErrorCode.K8S_POLICY_INVALID, /Deployment team\/p \(x.yaml\).*base64/],
    ['boolean namespace', deployment('q', { [ANNOTATIONS.kataPolicy]: b64('package q\n') }).replace('  name: q\n', '  name: q\n  namespace: no\n'), ErrorCode.INPUT_MALFORMED, /metadata.namespace false, not a string/],
    ['dotted name, no Service', deployment('db.shop.svc', { [ANNOTATIONS.kataPolicy]: b64('package d\n') }), ErrorCode.K8S_POLICY_INVALID, /"db\.shop\.svc" has dots.*no Service in the input selects its pods/],
    ['no name', 'apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec: {containers: [{name: a, image: b}]}\n', ErrorCode.INPUT_MALFORMED, /generateName is not supported/],
  ];
  for (const [what, text, code, message] of cases) {
    try {
      await run([{ name: 'x.yaml', text }]);
      t.fail(`${what}: not refused`);
    } catch (err) {
      t.equal(err instanceof CcmeshError ? err.code : String(err), code, what);
      t.match((err as Error).message, message, what);
    }
  }
  t.end();
});
