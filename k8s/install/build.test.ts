/**
 * What the install must be, checked on the built objects with values written out from the issue (not taken from
 * the code): probes on 9102, the two Coordinator Services, least RBAC, the webhook's selector and policy, the
 * security contexts of every container, no limits unless set, the namespace everywhere, and the refusals.
 */
import fc from 'fast-check';
import t from 'tap';
import { parse } from 'yaml';
import { buildInstall, renderInstall } from './build.js';
import { validateServiceMonitor, type ServiceMonitor } from './service-monitor.js';
import { DEFAULT_VALUES, parseInstallValues, type InstallValues } from './values.js';

type Obj = Record<string, unknown>;
/** Walks a path of keys/indices through plain JSON; undefined where it stops. */
function at(o: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}
function find(objs: readonly Obj[], kind: string, name: string): Obj {
  const o = objs.find((x) => x.kind === kind && at(x, 'metadata', 'name') === name);
  if (!o) throw new Error(`no ${kind}/${name} in ${objs.map((x) => `${String(x.kind)}/${String(at(x, 'metadata', 'name'))}`).join(', ')}`);
  return o;
}
function values(yamlText: string): InstallValues {
  return parseInstallValues(parse(yamlText), 'test');
}
function build(v: InstallValues = DEFAULT_VALUES, namespace = 'ccmesh-system'): Obj[] {
  return buildInstall({ values: v, namespace, version: '9.8.7' });
}
function podSpecs(objs: readonly Obj[]): [string, Obj][] {
  return objs.filter((o) => at(o, 'spec', 'template', 'spec') !== undefined).map((o) => [String(o.kind), at(o, 'spec', 'template', 'spec') as Obj]);
}

void t.test('the default install has exactly the expected objects, in apply order', async (t) => {
  const kinds = build().map((o) => `${String(o.kind)}/${String(at(o, 'metadata', 'name'))}`);
  t.same(kinds, [
    'Namespace/ccmesh-system',
    'ServiceAccount/coordinator',
    'ServiceAccount/ccmesh-injector',
    'ClusterRole/ccmesh-injector',
    'ClusterRoleBinding/ccmesh-injector',
    'Role/ccmesh-injector',
    'RoleBinding/ccmesh-injector',
    'Service/coordinator',
    'Service/coordinator-ready',
    'Service/ccmesh-injector',
    'StatefulSet/coordinator',
    'PodDisruptionBudget/coordinator',
    'PodDisruptionBudget/ccmesh-injector',
    'Deployment/ccmesh-injector',
    'MutatingWebhookConfiguration/ccmesh-injector',
  ]);
});

void t.test('Coordinator StatefulSet: probes on 9102, TEE runtime class, pod role, store on a PVC', async (t) => {
  const sts = find(build(), 'StatefulSet', 'coordinator');
  const c = at(sts, 'spec', 'template', 'spec', 'containers', 0) as Obj;
  t.same(at(c, 'startupProbe', 'httpGet'), { path: '/probe/startup', port: 'metrics' });
  t.same(at(c, 'livenessProbe', 'httpGet'), { path: '/probe/liveness', port: 'metrics' });
  t.same(at(c, 'readinessProbe', 'httpGet'), { path: '/probe/readiness', port: 'metrics' });
  t.same(c.ports, [
    { name: 'user', containerPort: 1313, protocol: 'TCP' },
    { name: 'mesh', containerPort: 7777, protocol: 'TCP' },
    { name: 'metrics', containerPort: 9102, protocol: 'TCP' },
  ]);
  t.same(c.args, ['coordinator', '--store', 'file:/var/lib/ccmesh/coordinator', '--user-port', '1313', '--mesh-port', '7777', '--metrics-port', '9102']);
  t.equal(c.image, 'ghcr.io/ccmesh/ccmesh:9.8.7', 'the tag defaults to the version');
  t.same(at(c, 'volumeMounts', 0), { name: 'store', mountPath: '/var/lib/ccmesh/coordinator' });
  t.equal(at(sts, 'spec', 'serviceName'), 'coordinator');
  t.equal(at(sts, 'spec', 'replicas'), 1);
  t.equal(at(sts, 'spec', 'template', 'spec', 'runtimeClassName'), 'kata-qemu-snp');
  t.equal(at(sts, 'spec', 'template', 'metadata', 'annotations', 'ccmesh.dev/pod-role'), 'coordinator', 'the injector skips the Coordinator');
  t.same(at(sts, 'spec', 'volumeClaimTemplates', 0, 'spec'), { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
  const anti = at(sts, 'spec', 'template', 'spec', 'affinity', 'podAntiAffinity', 'preferredDuringSchedulingIgnoredDuringExecution', 0, 'podAffinityTerm') as Obj;
  t.equal(anti.topologyKey, 'kubernetes.io/hostname');
  t.same(at(anti, 'labelSelector', 'matchLabels'), at(sts, 'spec', 'selector', 'matchLabels'), 'anti-affinity against its own pods');
  t.equal(at(sts, 'spec', 'template', 'spec', 'automountServiceAccountToken'), false, 'the Coordinator gets no API token');
});

void t.test('Coordinator Services: headless with unready endpoints, and ready-only', async (t) => {
  const objs = build();
  const headless = find(objs, 'Service', 'coordinator');
  t.equal(at(headless, 'spec', 'clusterIP'), 'None');
  t.equal(at(headless, 'spec', 'publishNotReadyAddresses'), true);
  t.same((at(headless, 'spec', 'ports') as Obj[]).map((p) => p.port), [1313, 7777, 9102]);
  const ready = find(objs, 'Service', 'coordinator-ready');
  t.equal(at(ready, 'spec', 'publishNotReadyAddresses'), undefined, 'ready endpoints only');
  t.same((at(ready, 'spec', 'ports') as Obj[]).map((p) => p.port), [1313, 7777]);
  const sts = find(objs, 'StatefulSet', 'coordinator');
  t.same(at(headless, 'spec', 'selector'), at(sts, 'spec', 'selector', 'matchLabels'));
  t.same(at(ready, 'spec', 'selector'), at(sts, 'spec', 'selector', 'matchLabels'));
  const pdb = find(objs, 'PodDisruptionBudget', 'coordinator');
  t.same(at(pdb, 'spec', 'selector', 'matchLabels'), at(sts, 'spec', 'selector', 'matchLabels'));
  t.equal(at(pdb, 'spec', 'maxUnavailable'), 1);
});

void t.test('injector RBAC is one rule: get and patch on its own webhook configuration', async (t) => {
  const objs = build();
  t.same(find(objs, 'ClusterRole', 'ccmesh-injector').rules, [
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['ccmesh-injector'], verbs: ['get', 'patch'] },
  ]);
  const binding = find(objs, 'ClusterRoleBinding', 'ccmesh-injector');
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'ccmesh-injector', namespace: 'ccmesh-system' }]);
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ccmesh-injector' });
  // The shared CA Secret: get by name, create (RBAC can't name what doesn't exist yet) — in its own namespace only.
  t.same(find(objs, 'Role', 'ccmesh-injector').rules, [
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['ccmesh-injector-ca'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  ]);
  t.equal(at(find(objs, 'Role', 'ccmesh-injector'), 'metadata', 'namespace'), 'ccmesh-system');
  t.same(find(objs, 'RoleBinding', 'ccmesh-injector').subjects, [{ kind: 'ServiceAccount', name: 'ccmesh-injector', namespace: 'ccmesh-system' }]);
  t.equal(objs.filter((o) => /Role/.test(String(o.kind))).length, 4, 'no other role or binding');
  const inMemory = build(values('injector: {replicas: 1, caSecret: ""}'));
  t.equal(inMemory.filter((o) => /Role/.test(String(o.kind))).length, 2, 'no Secret access with an in-memory CA');
  t.equal(build(values('injector: {tlsSecret: from-cert-manager}')).filter((o) => /Role/.test(String(o.kind))).length, 2, 'nor with a supplied certificate');
});

void t.test('webhook: pods on CREATE, opted-in namespaces minus kube-system and its own, through the Service', async (t) => {
  const objs = build(DEFAULT_VALUES, 'mesh-ops');
  const hook = at(find(objs, 'MutatingWebhookConfiguration', 'ccmesh-injector'), 'webhooks', 0) as Obj;
  t.equal(hook.name, 'inject.ccmesh.dev');
  t.same(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  t.same(at(hook, 'namespaceSelector', 'matchExpressions'), [
    { key: 'ccmesh.dev/injection', operator: 'In', values: ['enabled'] },
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'mesh-ops'] },
  ]);
  t.same(at(hook, 'clientConfig'), { service: { name: 'ccmesh-injector', namespace: 'mesh-ops', path: '/inject', port: 443 } });
  t.equal(hook.failurePolicy, 'Fail');
  t.equal(hook.sideEffects, 'None');
  t.same(hook.admissionReviewVersions, ['v1']);
  t.equal(hook.timeoutSeconds, 10);
  t.equal(hook.reinvocationPolicy, 'Never');
  const svc = find(objs, 'Service', 'ccmesh-injector');
  t.same(at(svc, 'spec', 'ports', 0), { name: 'https', port: 443, targetPort: 'webhook', protocol: 'TCP' });
  const dep = find(objs, 'Deployment', 'ccmesh-injector');
  t.same(at(dep, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0), { name: 'webhook', containerPort: 9443, protocol: 'TCP' });
  t.equal(at(dep, 'spec', 'replicas'), 2, 'two injectors sharing the CA Secret');
  t.equal((at(dep, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[]).join(' ').includes('--ca-secret ccmesh-injector-ca'), true);
  const args = at(dep, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
  t.equal(args[args.indexOf('--coordinator') + 1], 'coordinator-ready.mesh-ops.svc:7777');
  t.equal(args[args.indexOf('--namespace') + 1], 'mesh-ops');
  t.equal(args[args.indexOf('--webhook-config') + 1], 'ccmesh-injector');
  t.equal(args[args.indexOf('--port') + 1], '9443');

  const policy = at(build(values('injector:\n  failurePolicy: Ignore\n  timeoutSeconds: 3\n  reinvocationPolicy: IfNeeded\n')).find((o) => o.kind === 'MutatingWebhookConfiguration'), 'webhooks', 0) as Obj;
  t.equal(policy.failurePolicy, 'Ignore');
  t.equal(policy.timeoutSeconds, 3);
  t.equal(policy.reinvocationPolicy, 'IfNeeded');
  const inKubeSystem = at(build(DEFAULT_VALUES, 'kube-system').find((o) => o.kind === 'MutatingWebhookConfiguration'), 'webhooks', 0, 'namespaceSelector', 'matchExpressions', 1, 'values');
  t.same(inKubeSystem, ['kube-system'], 'no duplicate when installed into kube-system');
});

void t.test('every pod and container is non-root, read-only, drop ALL, RuntimeDefault, with requests and no limits', async (t) => {
  const specs = podSpecs(build());
  t.equal(specs.length, 2);
  for (const [kind, spec] of specs) {
    t.same(spec.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } }, kind);
    for (const c of spec.containers as Obj[]) {
      t.same(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } }, `${kind} ${String(c.name)}`);
      t.ok(at(c, 'resources', 'requests', 'cpu') && at(c, 'resources', 'requests', 'memory'), 'requests set');
      t.equal(at(c, 'resources', 'limits'), undefined, 'no limits by default');
    }
  }
});

void t.test('values reach the objects: limits, storage, runtime class, node selectors, image, PDB off', async (t) => {
  const objs = build(values([
    'image: {repository: r.example/ccmesh, tag: dev, pullPolicy: Always}',
    'coordinator:',
    '  runtimeClassName: ""',
    '  store: {size: 3Gi, storageClassName: fast}',
    '  resources: {limits: {memory: 1Gi}}',
    '  nodeSelector: {tee: snp}',
    '  podDisruptionBudget: {enabled: false}',
    'injector: {tee: sev-guest, nodeSelector: {pool: sys}}',
  ].join('\n')));
  const sts = find(objs, 'StatefulSet', 'coordinator');
  const pod = at(sts, 'spec', 'template', 'spec') as Obj;
  t.equal(pod.runtimeClassName, undefined, 'empty runtime class is left out');
  t.same(pod.nodeSelector, { tee: 'snp' });
  t.same(at(pod, 'containers', 0, 'resources'), { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } });
  t.equal(at(pod, 'containers', 0, 'image'), 'r.example/ccmesh:dev');
  t.equal(at(pod, 'containers', 0, 'imagePullPolicy'), 'Always');
  t.same(at(sts, 'spec', 'volumeClaimTemplates', 0, 'spec'), { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '3Gi' } } });
  t.notOk(objs.some((o) => o.kind === 'PodDisruptionBudget' && at(o, 'metadata', 'name') === 'coordinator'));
  const dep = find(objs, 'Deployment', 'ccmesh-injector');
  const args = at(dep, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
  t.equal(args[args.indexOf('--image') + 1], 'r.example/ccmesh:dev', 'injected containers use the same image');
  t.equal(args[args.indexOf('--tee') + 1], 'sev-guest');
  t.same(at(dep, 'spec', 'template', 'spec', 'nodeSelector'), { pool: 'sys' });
});

void t.test('injector pins: --coordinator-policy, --mesh-owner and --coordinator-measurement after --coordinator, only when set', async (t) => {
  const argsOf = (objs: readonly Obj[]): string[] => at(find(objs, 'Deployment', 'ccmesh-injector'), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
  const plain = argsOf(build());
  t.notOk(plain.some((a) => /^--(coordinator-policy|mesh-owner|coordinator-measurement)$/.test(a)), 'not pinned by default');
  const policy = '6a'.repeat(32);
  const owner = '2b'.repeat(32);
  const [m1, m2] = ['1a'.repeat(48), '2c'.repeat(48)];
  const args = argsOf(build(values(`injector:\n  coordinatorPolicy: ${policy}\n  meshOwner: ${owner}\n  coordinatorMeasurements: [${m1}, ${m2}]\n`), 'mesh-ops'));
  const i = args.indexOf('--coordinator');
  t.same(args.slice(i, i + 10), ['--coordinator', 'coordinator-ready.mesh-ops.svc:7777', '--coordinator-policy', policy, '--mesh-owner', owner, '--coordinator-measurement', m1, '--coordinator-measurement', m2]);
  t.same([...args.slice(0, i + 2), ...args.slice(i + 10)], argsOf(build(DEFAULT_VALUES, 'mesh-ops')), 'nothing else changes');
  // A pin of digits only would be a YAML number if printed bare; it must come back as the same string.
  const digits = '1'.repeat(64);
  const text = renderInstall(build(values(`injector:\n  coordinatorPolicy: "${digits}"\n  meshOwner: "${'0'.repeat(63)}1"\n  coordinatorMeasurements: ["${'9'.repeat(96)}"]\n`)));
  const dep = text.split(/^---\n/m).filter(Boolean).map((d) => parse(d) as Obj).find((o) => o.kind === 'Deployment');
  const printed = at(dep, 'spec', 'template', 'spec', 'containers', 0, 'args') as unknown[];
  t.equal(printed[printed.indexOf('--coordinator-policy') + 1], digits, 'the policy stays a string');
  t.equal(printed[printed.indexOf('--mesh-owner') + 1], `${'0'.repeat(63)}1`, 'the owner stays a string');
  t.equal(printed[printed.indexOf('--coordinator-measurement') + 1], '9'.repeat(96), 'the measurement stays a string');
});

void t.test('metrics: prometheus.io annotations and ServiceMonitors only when enabled', async (t) => {
  const plain = build();
  t.notOk(plain.some((o) => o.kind === 'ServiceMonitor'));
  t.same(Object.keys(at(find(plain, 'StatefulSet', 'coordinator'), 'spec', 'template', 'metadata', 'annotations') as Obj), ['ccmesh.dev/pod-role']);
  const objs = build(values('metrics: {podAnnotations: true, serviceMonitor: {enabled: true, interval: 1m, labels: {release: prom, app.kubernetes.io/name: spoof}}}'), 'obs');
  t.same(at(find(objs, 'StatefulSet', 'coordinator'), 'spec', 'template', 'metadata', 'annotations'), {
    'ccmesh.dev/pod-role': 'coordinator', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/path': '/metrics',
  });
  t.same(at(find(objs, 'Deployment', 'ccmesh-injector'), 'spec', 'template', 'metadata', 'annotations'), { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9103', 'prometheus.io/path': '/metrics' });
  const sm = find(objs, 'ServiceMonitor', 'coordinator');
  t.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
  t.same(at(sm, 'spec', 'endpoints'), [{ port: 'metrics', path: '/metrics', interval: '1m', scheme: 'http' }]);
  t.same(at(sm, 'spec', 'namespaceSelector'), { matchNames: ['obs'] });
  t.equal(at(sm, 'metadata', 'labels', 'release'), 'prom');
  t.equal(at(sm, 'metadata', 'labels', 'app.kubernetes.io/name'), 'ccmesh', 'our labels win over user labels');
  // The Service it selects has a port named "metrics".
  const svc = find(objs, 'Service', 'coordinator');
  t.ok((at(svc, 'spec', 'ports') as Obj[]).some((p) => p.name === 'metrics' && p.port === 9102));
  t.ok((at(find(objs, 'Service', 'ccmesh-injector'), 'spec', 'ports') as Obj[]).some((p) => p.name === 'metrics' && p.port === 9103));
  t.ok(find(objs, 'ServiceMonitor', 'ccmesh-injector'));
});

void t.test('validateServiceMonitor refuses broken monitors', async (t) => {
  const good: ServiceMonitor = {
    apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'a', namespace: 'b', labels: {} },
    spec: { selector: { matchLabels: { x: 'y' } }, namespaceSelector: { matchNames: ['b'] }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', scheme: 'http' }] },
  };
  t.doesNotThrow(() => validateServiceMonitor(good));
  t.throws(() => validateServiceMonitor({ ...good, spec: { ...good.spec, selector: { matchLabels: {} } } }), /would select every Service/);
  t.throws(() => validateServiceMonitor({ ...good, spec: { ...good.spec, endpoints: [{ port: 'metrics', path: 'metrics', interval: '30s', scheme: 'http' }] } }), /endpoints\[0\]\.path/);
  t.throws(() => validateServiceMonitor({ ...good, metadata: { ...good.metadata, name: 'Bad_Name' } }), /metadata\.name/);
});

void t.test('every namespaced object lands in the chosen namespace', async (t) => {
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
  const objs = build(values('metrics: {serviceMonitor: {enabled: true}}'), 'team-mesh');
  for (const o of objs) {
    const ns = at(o, 'metadata', 'namespace');
    if (clusterScoped.has(String(o.kind))) t.equal(ns, undefined, `${String(o.kind)} is cluster-scoped`);
    else t.equal(ns, 'team-mesh', `${String(o.kind)}/${String(at(o, 'metadata', 'name'))}`);
  }
  t.equal(at(objs[0], 'metadata', 'name'), 'team-mesh');
  t.notOk(renderInstall(objs).includes('ccmesh-system'), 'the default namespace appears nowhere');
});

void t.test('a bad namespace is a config error', async (t) => {
  t.throws(() => build(DEFAULT_VALUES, 'Team_Mesh'), { name: 'ConfigError', message: /--namespace/ });
  t.throws(() => build(DEFAULT_VALUES, 'x'.repeat(64)), { name: 'ConfigError' });
});

void t.test('rendering: documents separated by ---, round-trips to the same objects', async (t) => {
  const objs = build();
  const text = renderInstall(objs);
  t.ok(text.startsWith('---\napiVersion: v1\nkind: Namespace\n'));
  t.equal(text.split(/^---$/m).length - 1, objs.length);
  t.same(text.split(/^---\n/m).filter(Boolean).map((d) => parse(d) as unknown), objs);
  t.match(text, /- --user-port\n\s+- "1313"\n/, 'numeric args stay strings');
});

void t.test('property: any accepted values build an install whose objects all validate', async (t) => {
  const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
  const labelMap = fc.dictionary(fc.stringMatching(/^[a-z]([a-z0-9.-]{0,8}[a-z0-9])?(\/[a-z]{1,5})?$/), fc.stringMatching(/^[A-Za-z0-9]{0,8}$/), { maxKeys: 3 });
  const quantity = fc.constantFrom('1', '100m', '0.5', '2Gi', '512Mi', '3');
  const pin = fc.stringMatching(/^[0-9a-f]{64}$/);
  const limit = fc.constantFrom('', '1', '250m', '1Gi');
  const resources = fc.record({ requests: fc.record({ cpu: quantity, memory: quantity }, { requiredKeys: [] }), limits: fc.record({ cpu: limit, memory: limit }, { requiredKeys: [] }) }, { requiredKeys: [] });
  const doc = fc.record({
    image: fc.record({ repository: fc.constantFrom('ghcr.io/ccmesh/ccmesh', 'localhost:5000/x/y', 'ccmesh'), tag: fc.constantFrom('', 'v1', '1.2.3-rc.1'), pullPolicy: fc.constantFrom('Always', 'IfNotPresent', 'Never') }, { requiredKeys: [] }),
    coordinator: fc.record({
      replicas: fc.integer({ min: 0, max: 7 }),
      runtimeClassName: fc.oneof(fc.constant(''), name),
      store: fc.record({
        type: fc.constantFrom('file', 'etcd'), size: quantity, storageClassName: fc.oneof(fc.constant(''), name),
        etcdEndpoints: fc.constantFrom([], ['https://etcd-0.etcd:2379'], ['https://a:2379', 'https://[fd00::1]:2379'], ['http://127.0.0.1:2379']),
        etcdTlsSecret: fc.constantFrom('', 'etcd-client'),
      }, { requiredKeys: [] }),
      resources,
      nodeSelector: labelMap,
      tolerations: fc.constantFrom([], [{ key: 'tee', operator: 'Exists', effect: 'NoSchedule' }]),
      podAntiAffinity: fc.constantFrom('preferred', 'required'),
      priorityClassName: fc.oneof(fc.constant(''), name),
      podLabels: labelMap,
      podDisruptionBudget: fc.record({ enabled: fc.boolean(), maxUnavailable: fc.integer({ min: 1, max: 7 }) }, { requiredKeys: [] }),
    }, { requiredKeys: [] }),
    injector: fc.record({
      failurePolicy: fc.constantFrom('Fail', 'Ignore'), timeoutSeconds: fc.integer({ min: 1, max: 30 }), reinvocationPolicy: fc.constantFrom('Never', 'IfNeeded'),
      tee: fc.constantFrom('auto', 'configfs-tsm', 'sev-guest', 'tdx-guest'), resources, nodeSelector: labelMap,
      replicas: fc.integer({ min: 1, max: 3 }), tlsSecret: fc.constantFrom('', 'injector-tls'), caSecret: fc.constantFrom('', 'ccmesh-injector-ca'), proxyMemoryLimit: fc.constantFrom('', '256Mi', '1Gi'),
      coordinatorPolicy: fc.oneof(fc.constant(''), pin), meshOwner: fc.oneof(fc.constant(''), pin),
      coordinatorMeasurements: fc.array(fc.stringMatching(/^[0-9a-f]{96}$/), { maxLength: 2 }),
    }, { requiredKeys: [] }),
    metrics: fc.record({ podAnnotations: fc.boolean(), sidecarPodAnnotations: fc.boolean(), podMonitor: fc.record({ enabled: fc.boolean() }, { requiredKeys: [] }), serviceMonitor: fc.record({ enabled: fc.boolean(), interval: fc.constantFrom('10s', '1m', '500ms'), labels: labelMap }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  }, { requiredKeys: [] });
  fc.assert(fc.property(doc, name, (d, ns) => {
    const pinsSet = [(d.injector?.coordinatorPolicy ?? '') !== '', (d.injector?.meshOwner ?? '') !== '', (d.injector?.coordinatorMeasurements ?? []).length > 0];
    const partialPins = new Set(pinsSet).size > 1;
    const st = d.coordinator?.store;
    const etcd = st?.type === 'etcd';
    const endpoints = st?.etcdEndpoints ?? [];
    const refused = partialPins
      || (!etcd && ((d.coordinator?.replicas ?? 0) > 1 || endpoints.length > 0 || (st?.etcdTlsSecret ?? '') !== ''))
      || (etcd && endpoints.length === 0)
      || (etcd && endpoints.some((e) => e.startsWith('http:')) && (st?.etcdTlsSecret ?? '') !== '')
      || ((d.injector?.replicas ?? 2) > 1 && (d.injector?.tlsSecret ?? '') === '' && (d.injector?.caSecret ?? 'ccmesh-injector-ca') === '');
    let v: InstallValues;
    try {
      v = parseInstallValues(d, 'prop');
    } catch (err) {
      if (!refused) throw err;
      return;
    }
    if (refused) throw new Error(`refused combination accepted: ${JSON.stringify(d)}`);
    // buildInstall validates every object; it must not throw for accepted values.
    const objs = buildInstall({ values: v, namespace: ns, version: '1.0.0' });
    const expected = 11 + (v.coordinator.podDisruptionBudget.enabled ? 1 : 0) + (v.metrics.serviceMonitor.enabled ? 2 : 0)
      + (v.injector.replicas > 1 && v.injector.podDisruptionBudget.enabled ? 1 : 0) + (v.metrics.podMonitor.enabled ? 1 : 0)
      + (v.injector.tlsSecret === '' && v.injector.caSecret !== '' ? 2 : 0);
    if (objs.length !== expected) throw new Error(`${objs.length} objects, expected ${expected}`);
    const args = at(objs.find((o) => o.kind === 'Deployment'), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    const pinned = v.injector.coordinatorPolicy !== '';
    const measurementArgs = args.filter((a) => a === '--coordinator-measurement').length;
    if (args.includes('--coordinator-policy') !== pinned || args.includes('--mesh-owner') !== pinned || measurementArgs !== v.injector.coordinatorMeasurements.length) {
      throw new Error(`pins in the args: ${args.join(' ')}`);
    }
    const sts = objs.find((o) => o.kind === 'StatefulSet');
    const cargs = at(sts, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    const replicas = at(sts, 'spec', 'replicas') as number;
    if (v.coordinator.store.type === 'file' && (replicas !== 1 || cargs.includes('--peers') || at(sts, 'spec', 'volumeClaimTemplates') === undefined)) throw new Error(`file store: ${replicas} replicas, ${cargs.join(' ')}`);
    if (v.coordinator.store.type === 'etcd' && (!cargs.includes('--peers') || at(sts, 'spec', 'volumeClaimTemplates') !== undefined || cargs[cargs.indexOf('--store') + 1] !== `etcd:${v.coordinator.store.etcdEndpoints.join(',')}`)) throw new Error(`etcd store: ${cargs.join(' ')}`);
  }), { numRuns: 200 });
  t.pass('200 random value sets');
});
