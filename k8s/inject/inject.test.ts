/**
 * Unit tests of the `inject` API beside the golden files: where templates live, the marker, what passes through
 * untouched, options, re-injection, and a property test over random annotation values (never anything but a
 * CcmeshError; idempotent whenever it succeeds).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { VERSION } from '../../lib/version.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { DEFAULT_INJECT_OPTIONS, describeResource, inject, isInjected, podTemplateOf, POD_SPAWNING_KINDS, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

function podSpec(): Obj {
  return { containers: [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: 8080 }] }] };
}

function pod(annotations: Obj = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', annotations }, spec: podSpec() };
}

function initContainers(o: KubeObject): Obj[] {
  return (o.spec as Obj).initContainers as Obj[];
}

void t.test('podTemplateOf finds the template of every pod-spawning kind', async (t) => {
  const template = { metadata: { labels: { a: 'b' } }, spec: podSpec() };
  const cases: [string, KubeObject, string[]][] = [
    ['Deployment', { kind: 'Deployment', spec: { template } }, ['spec', 'template']],
    ['StatefulSet', { kind: 'StatefulSet', spec: { template } }, ['spec', 'template']],
    ['DaemonSet', { kind: 'DaemonSet', spec: { template } }, ['spec', 'template']],
    ['ReplicaSet', { kind: 'ReplicaSet', spec: { template } }, ['spec', 'template']],
    ['Job', { kind: 'Job', spec: { template } }, ['spec', 'template']],
    ['CronJob', { kind: 'CronJob', spec: { jobTemplate: { spec: { template } } } }, ['spec', 'jobTemplate', 'spec', 'template']],
  ];
  for (const [kind, o, path] of cases) {
    const found = podTemplateOf(o);
    t.same(found?.path, path, `${kind} path`);
    t.equal(found?.template, template, `${kind} template is the object at that path`);
  }
  const p = pod();
  t.equal(podTemplateOf(p)?.template, p, 'a Pod is its own template');
  t.same(podTemplateOf(p)?.path, []);
  t.equal(podTemplateOf({ kind: 'Service', spec: { template } }), undefined, 'not for a Service');
  t.equal(podTemplateOf({ kind: 'Deployment', spec: {} }), undefined, 'not when the template is missing');
  t.equal(podTemplateOf({ kind: 'Deployment', spec: { template: [] } }), undefined, 'not when the template is not an object');
  t.same([...POD_SPAWNING_KINDS].sort(), ['CronJob', 'DaemonSet', 'Deployment', 'Job', 'Pod', 'ReplicaSet', 'StatefulSet']);
});

void t.test('defaults: the versioned image, the install\'s coordinator-ready Service on the mesh port (resolves from any namespace), auto TEE', async (t) => {
  t.equal(DEFAULT_INJECT_OPTIONS.image, `ghcr.io/ccmesh/ccmesh:${VERSION}`);
  t.equal(DEFAULT_INJECT_OPTIONS.coordinator, 'coordinator-ready.ccmesh-system.svc:7777');
  t.equal(DEFAULT_INJECT_OPTIONS.tee, 'auto');
});

void t.test('isInjected and the marker', async (t) => {
  const p = pod();
  t.notOk(isInjected(p));
  const out = inject(p);
  t.ok(isInjected(out));
  t.equal(((out.metadata as Obj).annotations as Obj)['ccmesh.dev/injected'], VERSION, 'marker value is the version');
  t.notOk(isInjected({ kind: 'Service', metadata: { annotations: { 'ccmesh.dev/injected': VERSION } } }), 'only pod templates carry it');
});

void t.test("attack: the host rewrites the injected sidecar's environment (NODE_OPTIONS --require, envFrom)", async (t) => {
  const injected = inject(pod());
  const proxyOf = (o: KubeObject): Obj => initContainers(o).find((c) => c.name === 'ccmesh-proxy')!;
  const ours = structuredClone(proxyOf(injected));
  t.strictSame(ours.env, [{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=1' }], 'ours carries only the heap flag');
  const tamper = (o: KubeObject): KubeObject => {
    const bad = structuredClone(o);
    const proxy = proxyOf(bad);
    proxy.env = [{ name: 'NODE_OPTIONS', value: '--require /ccmesh/x.js' }, { name: 'NODE_TLS_REJECT_UNAUTHORIZED', value: '0' }];
    proxy.envFrom = [{ configMapRef: { name: 'host-env' } }];
    return bad;
  };
  // With the marker (a previous injection made it): replaced by exactly ours, nothing of the host's kept.
  const again = inject(tamper(injected));
  t.strictSame(proxyOf(again), ours, 'marked: the sidecar container is rebuilt; the env and envFrom written over it are gone');
  // Without the marker: someone else's container under our name is refused, and the message says what differs.
  const unmarked = tamper(injected);
  delete ((unmarked.metadata as Obj).annotations as Obj)['ccmesh.dev/injected'];
  let refused: unknown;
  try {
    inject(unmarked);
  } catch (err) {
    refused = err;
  }
  t.ok(refused instanceof CcmeshError && refused.code === ErrorCode.K8S_INJECT_REFUSED, 'unmarked: refused');
  t.match((refused as Error).message, /"ccmesh-proxy" differs in env, envFrom/, 'naming the tampered container and its env and envFrom (not the untouched initializer before it)');
});

void t.test('a template without metadata gets metadata.annotations at its end', async (t) => {
  const o: KubeObject = { kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { ...podSpec(), restartPolicy: 'Never' } } } };
  const out = inject(o);
  const template = (out.spec as Obj).template as Obj;
  t.same(Object.keys(template), ['spec', 'metadata']);
  t.same((template.metadata as Obj).annotations, { 'ccmesh.dev/injected': VERSION });
});

void t.test('passes through unchanged: other kinds, no kind, opted out, the Coordinator', async (t) => {
  const cases: [string, KubeObject][] = [
    ['ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', data: { a: 'b' } }],
    ['no kind', { spec: { template: { spec: podSpec() } } }],
    ['inject false', pod({ 'ccmesh.dev/inject': 'false', 'ccmesh.dev/admin-port': 'garbage' })],
    ['pod-role coordinator', pod({ 'ccmesh.dev/pod-role': 'coordinator' })],
  ];
  for (const [name, o] of cases) {
    const out = inject(o);
    t.not(out, o, `${name}: a new object`);
    t.equal(JSON.stringify(out), JSON.stringify(o), `${name}: same bytes`);
  }
  t.ok(isInjected(inject(pod({ 'ccmesh.dev/inject': 'true' }))), 'inject "true" injects');
});

void t.test('options are validated', async (t) => {
  const bad: [string, object][] = [
    ['image', { image: '' }],
    ['image', { image: 'has space' }],
    ['coordinator', { coordinator: 'no-port' }],
    ['tee', { tee: 'simulated' }],
  ];
  for (const [what, opts] of bad) {
    t.throws(() => inject(pod(), opts), { code: ErrorCode.USAGE, message: new RegExp(`option ${what}`) }, JSON.stringify(opts));
  }
});

void t.test('an existing ccmesh mount (made read-only) and an identical ccmesh volume are kept', async (t) => {
  const p = pod();
  const spec = p.spec as Obj;
  const app = (spec.containers as Obj[])[0]!;
  app.volumeMounts = [{ mountPath: '/ccmesh/', name: 'ccmesh' }];
  spec.volumes = [{ emptyDir: { medium: 'Memory' }, name: 'ccmesh' }];
  const out = inject(p);
  const outSpec = out.spec as Obj;
  t.same(((outSpec.containers as Obj[])[0]!).volumeMounts, [{ mountPath: '/ccmesh/', name: 'ccmesh', readOnly: true }], 'no second mount added; the mount kept in place, made read-only');
  t.equal(JSON.stringify(outSpec.volumes), JSON.stringify([{ emptyDir: { medium: 'Memory' }, name: 'ccmesh' }]), 'volume untouched, key order kept');
});

void t.test('re-injection of a marked resource replaces only ccmesh containers, keeping user init containers in order', async (t) => {
  const p = pod({ 'ccmesh.dev/ingress': 'web#8080' });
  (p.spec as Obj).initContainers = [{ name: 'setup', image: 'x' }, { name: 'sidecar', image: 'y', restartPolicy: 'Always' }];
  const first = inject(p);
  t.same(initContainers(first).map((c) => c.name), ['ccmesh-initializer', 'ccmesh-proxy', 'setup', 'sidecar']);
  ((first.metadata as Obj).annotations as Obj)['ccmesh.dev/ingress'] = 'web#8080#tls';
  const second = inject(first);
  t.same(initContainers(second).map((c) => c.name), ['ccmesh-initializer', 'ccmesh-proxy', 'setup', 'sidecar']);
  t.ok((initContainers(second)[1]!.args as string[]).includes('web#8080#tls'), 'proxy args follow the edited annotation');
  t.same(((second.spec as Obj).containers as Obj[])[0]!.volumeMounts, [{ name: 'ccmesh', mountPath: '/ccmesh', readOnly: true }], 'no duplicate app mount');
  t.ok(isDeepStrictEqual(inject(second), second), 'and is then stable');
  const third = inject(second, { image: 'registry.example/ccmesh:next' });
  t.same(initContainers(third).slice(0, 2).map((c) => c.image), ['registry.example/ccmesh:next', 'registry.example/ccmesh:next'], 'a new image re-injects too');
});

void t.test('describeResource', async (t) => {
  t.equal(describeResource({ kind: 'Pod', metadata: { generateName: 'web-', namespace: 'a' } }), 'Pod a/web-*');
  t.equal(describeResource({ kind: 'Job', metadata: { name: 'j' } }), 'Job j');
  t.equal(describeResource({}), '(no kind) (unnamed)');
});

/** Annotation values mixing valid grammar fragments with arbitrary text. */
const annotationValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('true', 'false', '', 'coordinator', '15020', '15006', '0', '65536', '8080', 'conf', 'conf,conf', 'ccmesh', 'web#8080', 'web#8080#plain', 'web#8080##api#8443#tls', 'web#15020', 'db#127.0.0.1:5432#db:5432', 'a#127.0.0.1:15001#b:1', 'web#8080#mtls:allow=a.b,c', 'h#9090#plain'),
  fc.array(fc.constantFrom('web', '#', '##', '8080', '9090', 'plain', 'tls', 'mtls', '127.0.0.2:80', 'db:5432', ':', ','), { maxLength: 8 }).map((parts) => parts.join('')),
);
/** No probe, or one that passes only when 9090 is declared plain / the admin port stays 15020 / always (exec). */
const probeValue = fc.constantFrom(undefined, { httpGet: { port: 'h' } }, { tcpSocket: { port: 15020 } }, { exec: { command: ['true'] } });
const KEYS = ['ccmesh.dev/inject', 'ccmesh.dev/ingress', 'ccmesh.dev/egress', 'ccmesh.dev/admin-port', 'ccmesh.dev/workload-secret-id', 'ccmesh.dev/pod-role', 'ccmesh.dev/config-volumes'];

void t.test('property: only CcmeshErrors, and idempotent when it succeeds', async (t) => {
  let injected = 0;
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...KEYS), annotationValue), probeValue, (annotations, probe) => {
      const d: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: { template: { metadata: { annotations }, spec: { containers: [{ name: 'app', image: 'i', ports: [{ name: 'h', containerPort: 9090 }], volumeMounts: [{ name: 'conf', mountPath: '/c' }], ...(probe ? { readinessProbe: probe } : {}) }], volumes: [{ name: 'conf', configMap: { name: 'c' } }] } } },
      };
      let out: KubeObject;
      try {
        out = inject(d);
      } catch (e) {
        if (!(e instanceof CcmeshError) || e.code !== ErrorCode.K8S_INJECT_REFUSED) throw e;
        return;
      }
      injected++;
      const again = inject(out);
      if (!isDeepStrictEqual(again, out) || JSON.stringify(again) !== JSON.stringify(out)) throw new Error('not idempotent');
    }),
    { numRuns: 400 },
  );
  t.ok(injected > 20, `a fair share of random inputs inject (${injected}), so idempotence was exercised`);
});

void t.test('a pod from an injected template, with the ServiceAccount token mount the API server adds, is left as is', async (t) => {
  const p = pod({ 'ccmesh.dev/ingress': 'web#8080' });
  (p.spec as Obj).securityContext = { runAsUser: 1000 };
  const injected = inject(p);
  t.ok((initContainers(injected)[0]!.args as string[]).join(' ').includes('--secret-owner 1000'), 'the app uid from the pod securityContext owns the workload secret');
  const admitted = structuredClone(injected);
  const token = { name: 'kube-api-access-x1', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
  for (const c of [...initContainers(admitted), ...((admitted.spec as Obj).containers as Obj[])]) (c.volumeMounts as Obj[]).push({ ...token });
  const out = inject(admitted);
  t.ok(isDeepStrictEqual(out, admitted), 'unchanged: no re-injection, the token mounts stay');
  const other = structuredClone(admitted);
  (initContainers(other)[1]!.volumeMounts as Obj[]).push({ name: 'extra', mountPath: '/extra' });
  ((other.metadata as Obj).annotations as Obj)['ccmesh.dev/injected'] = undefined;
  delete ((other.metadata as Obj).annotations as Obj)['ccmesh.dev/injected'];
  t.throws(() => inject(other), { code: 'CCMESH_ERR_K8S_INJECT_REFUSED' }, 'any other extra mount on our container is still someone else\'s container');
});

void t.test('coordinatorPolicy and meshOwner pin --coordinator-policy and --mesh-owner in the initializer; malformed or lone ones are refused', async (t) => {
  const pins = { coordinatorPolicy: 'ab'.repeat(32), meshOwner: 'cd'.repeat(32), coordinatorMeasurements: ['ef'.repeat(48)] };
  const out = inject(pod(), pins);
  const args = initContainers(out)[0]!.args as string[];
  t.same(args.slice(args.indexOf('--coordinator-policy'), args.indexOf('--coordinator-policy') + 2), ['--coordinator-policy', 'ab'.repeat(32)]);
  t.same(args.slice(args.indexOf('--mesh-owner'), args.indexOf('--mesh-owner') + 2), ['--mesh-owner', 'cd'.repeat(32)], 'the mesh owner is pinned in the args');
  t.ok(isDeepStrictEqual(inject(out, pins), out), 'idempotent with the same options');
  t.throws(() => inject(pod(), { ...pins, coordinatorPolicy: 'AB' }), { code: 'CCMESH_ERR_CLI_USAGE' }, 'policy not 64 lowercase hex digits');
  t.throws(() => inject(pod(), { ...pins, meshOwner: 'xyz' }), { code: 'CCMESH_ERR_CLI_USAGE' }, 'owner not 64 lowercase hex digits');
  t.same(args.slice(args.indexOf('--coordinator-measurement'), args.indexOf('--coordinator-measurement') + 2), ['--coordinator-measurement', 'ef'.repeat(48)], 'and the Coordinator\'s launch measurement');
  t.throws(() => inject(pod(), { ...pins, meshOwner: undefined }), /both the Coordinator policy and the mesh owner pin, or neither/, 'a policy without an owner pin is refused');
  t.throws(() => inject(pod(), { meshOwner: 'cd'.repeat(32) }), /both the Coordinator policy and the mesh owner pin/, 'and an owner pin without a policy');
  t.throws(() => inject(pod(), { ...pins, coordinatorMeasurements: [] }), /at least one Coordinator launch measurement/, 'a policy without a measurement is refused');
  t.throws(() => inject(pod(), { ...pins, coordinatorMeasurements: ['EF'] }), /96 lowercase hex digits/, 'a malformed measurement is refused');
});

void t.test('every mount of ccmesh\'s volume in a user container becomes read-only, at /ccmesh or elsewhere', async (t) => {
  const o = pod();
  const spec = o.spec as Obj;
  spec.containers = [
    // Writable at /ccmesh (it could rename /ccmesh/tls away and put its own directory there), and again elsewhere.
    { name: 'app', image: 'a', volumeMounts: [{ name: 'ccmesh', mountPath: '/ccmesh', readOnly: false }, { name: 'ccmesh', mountPath: '/mesh' }] },
    { name: 'side', image: 'b', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
  ];
  spec.initContainers = [{ name: 'setup', image: 'c', volumeMounts: [{ name: 'ccmesh', mountPath: '/var/ccmesh', readOnly: false }] }];
  spec.volumes = [{ name: 'data', emptyDir: {} }];
  const out = inject(o);
  const mounts = (c: Obj): Obj[] => c.volumeMounts as Obj[];
  const [app, side] = (out.spec as Obj).containers as Obj[];
  t.same(mounts(app!), [{ name: 'ccmesh', mountPath: '/ccmesh', readOnly: true }, { name: 'ccmesh', mountPath: '/mesh', readOnly: true }], 'the app\'s writable mounts: read-only, in place');
  t.same(mounts(side!), [{ name: 'data', mountPath: '/data' }, { name: 'ccmesh', mountPath: '/ccmesh', readOnly: true }], 'other volumes untouched; the added /ccmesh mount is read-only');
  const setup = initContainers(out).find((c) => c.name === 'setup')!;
  t.same(mounts(setup), [{ name: 'ccmesh', mountPath: '/var/ccmesh', readOnly: true }, { name: 'ccmesh', mountPath: '/ccmesh', readOnly: true }], 'a user init container too');
  const writable = [...((out.spec as Obj).containers as Obj[]), ...initContainers(out)]
    .flatMap((c) => mounts(c).filter((m) => m.name === 'ccmesh' && m.readOnly !== true).map(() => c.name));
  t.same(writable, ['ccmesh-initializer', 'ccmesh-proxy'], 'only the initializer and the sidecar may write the volume');
  t.same(inject(out), out, 'idempotent');
});

void t.test('the initializer is told to close the ccmesh volume\'s root, where it mounts the volume', async (t) => {
  const init = initContainers(inject(pod()))[0]!;
  const args = init.args as string[];
  const at = args.indexOf('--volume-root');
  t.ok(at > 0, '--volume-root is among the initializer\'s pinned args');
  t.equal(args[at + 1], '/ccmesh', 'naming /ccmesh');
  t.ok((init.volumeMounts as Obj[]).some((m) => m.name === 'ccmesh' && m.mountPath === args[at + 1] && m.readOnly === undefined), 'where it mounts the ccmesh volume, writable');
});
