/**
 * Table-driven tests of the pod-template annotation parser: defaults, every accepted form, and refusals that name
 * the annotation and the value.
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { isOptedOut, readPodAnnotations, unknownAnnotationWarnings, type PodMeshAnnotations } from './annotations.js';

const tpl = (annotations?: unknown): Record<string, unknown> => ({ metadata: annotations === undefined ? {} : { annotations }, spec: {} });

void t.test('defaults when nothing is annotated', async (t) => {
  const want: PodMeshAnnotations = { inject: true, ingress: '', egress: '', adminPort: 15020, podRole: '', configVolumes: [], proxyResources: {}, rewriteProbes: true };
  t.same(readPodAnnotations(tpl(), 'Pod a/b'), want);
  t.same(readPodAnnotations({}, 'Pod a/b'), want, 'no metadata at all');
  t.same(readPodAnnotations(tpl({ 'other.io/x': '1' }), 'Pod a/b'), want, 'foreign annotations are ignored');
});

void t.test('accepted values', async (t) => {
  const got = readPodAnnotations(tpl({
    'ccmesh.dev/inject': 'true',
    'ccmesh.dev/ingress': 'web#8080#mtls:allow=a.example##m#9090#plain',
    'ccmesh.dev/egress': 'db#127.0.0.10:5432#db.svc:5432',
    'ccmesh.dev/admin-port': '15090',
    'ccmesh.dev/workload-secret-id': 'shop/web',
    'ccmesh.dev/pod-role': '',
    'ccmesh.dev/config-volumes': ' settings ,creds',
    'ccmesh.dev/proxy-cpu-request': '250m',
    'ccmesh.dev/proxy-memory-request': '160Mi',
    'ccmesh.dev/proxy-cpu-limit': '1',
    'ccmesh.dev/proxy-memory-limit': '0.25Gi',
    'ccmesh.dev/rewrite-probes': 'false',
  }), 'Pod a/b');
  t.same(got, {
    inject: true,
    ingress: 'web#8080#mtls:allow=a.example##m#9090#plain',
    egress: 'db#127.0.0.10:5432#db.svc:5432',
    adminPort: 15090,
    workloadSecretId: 'shop/web',
    podRole: '',
    configVolumes: ['settings', 'creds'],
    proxyResources: { cpuRequest: '250m', memoryRequest: '160Mi', cpuLimit: '1', memoryLimit: '0.25Gi' },
    rewriteProbes: false,
  });
  t.equal(readPodAnnotations(tpl({ 'ccmesh.dev/rewrite-probes': 'true' }), 'x').rewriteProbes, true);
  t.equal(readPodAnnotations(tpl({ 'ccmesh.dev/inject': 'false' }), 'x').inject, false);
  t.equal(readPodAnnotations(tpl({ 'ccmesh.dev/inject': 'disabled' }), 'x').inject, false, '"disabled" opts out as "false" does');
  t.equal(readPodAnnotations(tpl({ 'ccmesh.dev/inject': 'enabled' }), 'x').inject, true, '"enabled" as "true"');
  t.equal(readPodAnnotations(tpl({ 'ccmesh.dev/pod-role': 'coordinator' }), 'x').podRole, 'coordinator');
});

const BAD: [string, Record<string, unknown>, string][] = [
  ['inject', { 'ccmesh.dev/inject': 'True' }, '"True"'],
  ['inject Disabled', { 'ccmesh.dev/inject': 'Disabled' }, '"true", "enabled", "false" or "disabled"'],
  ['inject not a string', { 'ccmesh.dev/inject': false }, 'string'],
  ['rewrite-probes', { 'ccmesh.dev/rewrite-probes': 'off' }, '"off"'],
  ['pod-role', { 'ccmesh.dev/pod-role': 'Coordinator' }, '"Coordinator"'],
  ['admin-port zero', { 'ccmesh.dev/admin-port': '0' }, '"0"'],
  ['admin-port leading zero', { 'ccmesh.dev/admin-port': '08080' }, '"08080"'],
  ['admin-port on 15007', { 'ccmesh.dev/admin-port': '15007' }, 'inbound TLS listener'],
  ['ingress duplicate port', { 'ccmesh.dev/ingress': 'a#80##b#80' }, 'ccmesh.dev/ingress[1].port'],
  ['ingress on a moved admin port', { 'ccmesh.dev/admin-port': '9000', 'ccmesh.dev/ingress': 'a#9000' }, 'sidecar admin port'],
  ['egress remote', { 'ccmesh.dev/egress': 'a#127.0.0.1:80#nope' }, 'ccmesh.dev/egress[0].remote'],
  ['egress on the admin port', { 'ccmesh.dev/egress': 'a#127.0.0.1:15020#b:1' }, 'sidecar admin port'],
  ['workload-secret-id empty', { 'ccmesh.dev/workload-secret-id': '' }, 'ccmesh.dev/workload-secret-id'],
  ['workload-secret-id too long', { 'ccmesh.dev/workload-secret-id': 'x'.repeat(257) }, '256'],
  ['config-volumes empty item', { 'ccmesh.dev/config-volumes': 'a,,b' }, 'ccmesh.dev/config-volumes'],
  ['config-volumes duplicate', { 'ccmesh.dev/config-volumes': 'a,a' }, 'each volume named once'],
];

for (const [name, annotations, says] of BAD) {
  void t.test(`refuses ${name}`, async (t) => {
    let err: unknown;
    try {
      readPodAnnotations(tpl(annotations), 'Deployment shop/web');
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof CcmeshError, 'a CcmeshError');
    if (!(err instanceof CcmeshError)) return;
    t.equal(err.code, ErrorCode.K8S_INJECT_REFUSED);
    t.ok(err.message.includes('Deployment shop/web'), 'names the resource');
    t.ok(err.message.includes(says), `mentions ${says}: ${err.message}`);
  });
}

void t.test('isOptedOut reads only inject and pod-role', async (t) => {
  t.equal(isOptedOut(tpl(), 'x'), false);
  t.equal(isOptedOut(tpl({ 'ccmesh.dev/inject': 'false', 'ccmesh.dev/ingress': '#bad#' }), 'x'), true, 'other annotations are not judged');
  t.equal(isOptedOut(tpl({ 'ccmesh.dev/pod-role': 'coordinator' }), 'x'), true);
  t.equal(isOptedOut(tpl({ 'ccmesh.dev/inject': 'true' }), 'x'), false);
  t.throws(() => isOptedOut(tpl({ 'ccmesh.dev/inject': 'no' }), 'x'), { code: ErrorCode.K8S_INJECT_REFUSED });
  t.equal(isOptedOut(tpl({ 'ccmesh.dev/inject': 'disabled', 'ccmesh.dev/ingress': '#bad#' }), 'x'), true, '"disabled" opts out');
  t.equal(isOptedOut(tpl({ 'ccmesh.dev/inject': 'enabled' }), 'x'), false, '"enabled" stays in');
  t.throws(() => isOptedOut(tpl({ 'ccmesh.dev/inject': 'enable' }), 'x'), { code: ErrorCode.K8S_INJECT_REFUSED });
});

void t.test('unknown ccmesh.dev/* annotation keys are warned about, with the nearest known key', async (t) => {
  t.same(unknownAnnotationWarnings(tpl()), []);
  t.same(unknownAnnotationWarnings(tpl({
    'ccmesh.dev/inject': 'true',
    'ccmesh.dev/ingress': 'a#80',
    'ccmesh.dev/injected': '0.1.0',
    'other.io/ingres': 'x',
    'io.katacontainers.config.agent.policy': 'cGFja2FnZSB4Cg==',
  })), [], 'known keys and foreign prefixes are not warned about');
  t.same(unknownAnnotationWarnings(tpl({ 'ccmesh.dev/ingres': 'a#80', 'ccmesh.dev/egres': 'b' })), [
    'unknown annotation ccmesh.dev/egres (ignored): did you mean ccmesh.dev/egress?',
    'unknown annotation ccmesh.dev/ingres (ignored): did you mean ccmesh.dev/ingress?',
  ]);
  const far = unknownAnnotationWarnings(tpl({ 'ccmesh.dev/zzzzzzzzzzzz': '1' }));
  t.equal(far.length, 1);
  t.match(far[0], /^unknown annotation ccmesh\.dev\/zzzzzzzzzzzz \(ignored\); ccmesh reads ccmesh\.dev\/inject, /, 'no close key: the list of known keys');
});

void t.test('proxy resource annotations: malformed quantities are refused naming annotation, value and form', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['ccmesh.dev/proxy-cpu-request', 'lots', /a CPU quantity/],
    ['ccmesh.dev/proxy-cpu-limit', '0', /greater than 0/],
    ['ccmesh.dev/proxy-memory-request', '128m', /"m" would mean thousandths of a byte/],
    ['ccmesh.dev/proxy-memory-limit', '1e9', /a memory quantity/],
    ['ccmesh.dev/proxy-memory-limit', '-64Mi', /a memory quantity/],
    ['ccmesh.dev/proxy-memory-request', '64 Mi', /a memory quantity/],
  ];
  for (const [key, value, why] of cases) {
    const err = (() => {
      try {
        readPodAnnotations(tpl({ [key]: value }), 'Pod a/b');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof CcmeshError && err.code === ErrorCode.K8S_INJECT_REFUSED, `${key}=${value} refused`);
    t.match((err as Error).message, key, 'names the annotation');
    t.match((err as Error).message, value, 'names the value');
    t.match((err as Error).message, why, 'says what was expected');
  }
});
