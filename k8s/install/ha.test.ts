/**
 * The production-readiness parts of `install --print` (#17, #21): Coordinator replicas on etcd with client TLS and
 * peers, the injector's shared certificate, replicas, rolling update and PodDisruptionBudget, the webhook's
 * objectSelector, the sidecars' PodMonitor and scrape annotations, scheduling values, standard labels and digests.
 */
import t from 'tap';
import { parse } from 'yaml';
import { buildInstall } from './build.js';
import { parseInstallValues, type InstallValues } from './values.js';

type Obj = Record<string, unknown>;

function at(o: unknown, ...path: (string | number)[]): unknown {
  let cur = o;
  for (const p of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[p] : undefined;
  return cur;
}
const values = (y: string): InstallValues => parseInstallValues(parse(y), 'test');
const build = (y = ''): Obj[] => buildInstall({ values: values(y), namespace: 'mesh', version: '1.2.3' });
const find = (objs: readonly Obj[], kind: string, name?: string): Obj | undefined => objs.find((o) => o.kind === kind && (name === undefined || at(o, 'metadata', 'name') === name));
const argsOf = (o: Obj | undefined): string[] => at(o, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];

const ETCD = 'coordinator: {store: {type: etcd, etcdEndpoints: ["https://e0:2379", "https://e1:2379"], etcdTlsSecret: etcd-client}}';

void t.test('etcd: 3 replicas, --store etcd:, the TLS Secret as --etcd-* files, --peers on the headless Service, no PVC', async (t) => {
  const sts = find(build(ETCD), 'StatefulSet');
  t.equal(at(sts, 'spec', 'replicas'), 3);
  t.same(argsOf(sts).slice(0, 11), [
    'coordinator', '--store', 'etcd:https://e0:2379,https://e1:2379',
    '--etcd-ca', '/var/run/ccmesh/etcd-tls/ca.crt', '--etcd-cert', '/var/run/ccmesh/etcd-tls/tls.crt', '--etcd-key', '/var/run/ccmesh/etcd-tls/tls.key',
    '--peers', 'coordinator.mesh.svc:7777',
  ]);
  t.same(at(sts, 'spec', 'template', 'spec', 'volumes', 1), { name: 'etcd-tls', secret: { secretName: 'etcd-client', defaultMode: 0o440 } });
  t.same(at(sts, 'spec', 'template', 'spec', 'containers', 0, 'volumeMounts'), [{ name: 'tmp', mountPath: '/tmp' }, { name: 'etcd-tls', mountPath: '/var/run/ccmesh/etcd-tls', readOnly: true }]);
  t.equal(at(sts, 'spec', 'volumeClaimTemplates'), undefined, 'etcd replicas keep nothing on disk');
  const plain = find(build('coordinator: {replicas: 2, store: {type: etcd, etcdEndpoints: ["http://127.0.0.1:2379"]}}'), 'StatefulSet');
  t.equal(at(plain, 'spec', 'replicas'), 2);
  t.notOk(argsOf(plain).includes('--etcd-ca'), 'no TLS files without the Secret');
  t.equal(at(find(build(ETCD), 'PodDisruptionBudget', 'coordinator'), 'spec', 'maxUnavailable'), 1);
});

void t.test('the file store: one replica, no --peers, the PVC with labels that never change', async (t) => {
  const sts = find(build(), 'StatefulSet');
  t.equal(at(sts, 'spec', 'replicas'), 1);
  t.notOk(argsOf(sts).includes('--peers'));
  t.same(at(sts, 'spec', 'volumeClaimTemplates', 0, 'metadata', 'labels'), { 'app.kubernetes.io/name': 'ccmesh', 'app.kubernetes.io/component': 'coordinator', 'app.kubernetes.io/part-of': 'ccmesh' });
});

void t.test('anti-affinity: preferred by default, required on request; affinity values keep it', async (t) => {
  const pref = find(build('coordinator: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: tee, operator: In, values: [snp]}]}]}}}}'), 'StatefulSet');
  t.ok(at(pref, 'spec', 'template', 'spec', 'affinity', 'nodeAffinity'), 'the value\'s nodeAffinity');
  t.equal(at(pref, 'spec', 'template', 'spec', 'affinity', 'podAntiAffinity', 'preferredDuringSchedulingIgnoredDuringExecution', 0, 'podAffinityTerm', 'topologyKey'), 'kubernetes.io/hostname');
  const req = find(build('coordinator: {podAntiAffinity: required}'), 'StatefulSet');
  t.same(Object.keys(at(req, 'spec', 'template', 'spec', 'affinity', 'podAntiAffinity') as Obj), ['requiredDuringSchedulingIgnoredDuringExecution']);
});

void t.test('the injector: two replicas on the shared CA Secret by default, one Recreate replica with an in-memory CA, replicas on tlsSecret', async (t) => {
  const def = build();
  const defDep = find(def, 'Deployment');
  t.same([at(defDep, 'spec', 'replicas'), at(defDep, 'spec', 'strategy', 'type')], [2, 'RollingUpdate']);
  t.equal(argsOf(defDep)[argsOf(defDep).indexOf('--ca-secret') + 1], 'ccmesh-injector-ca');
  t.ok(find(def, 'PodDisruptionBudget', 'ccmesh-injector'), 'a PDB for two');
  const one = build('injector: {replicas: 1, caSecret: ""}');
  t.notOk(argsOf(find(one, 'Deployment')).includes('--ca-secret'));
  t.same([at(find(one, 'Deployment'), 'spec', 'replicas'), at(find(one, 'Deployment'), 'spec', 'strategy')], [1, { type: 'Recreate' }]);
  t.equal(find(one, 'PodDisruptionBudget', 'ccmesh-injector'), undefined, 'no PDB for one replica');
  t.notOk(argsOf(find(one, 'Deployment')).includes('--tls-dir'));
  const ha = build('injector: {replicas: 3, tlsSecret: injector-tls}');
  const dep = find(ha, 'Deployment');
  t.equal(at(dep, 'spec', 'replicas'), 3);
  t.same(at(dep, 'spec', 'strategy'), { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  const args = argsOf(dep);
  t.equal(args[args.indexOf('--tls-dir') + 1], '/var/run/ccmesh/webhook-tls');
  t.notOk(args.includes('--ca-secret'), 'a supplied certificate wins over the default caSecret');
  t.same(at(dep, 'spec', 'template', 'spec', 'volumes', 1), { name: 'webhook-tls', secret: { secretName: 'injector-tls', defaultMode: 0o440 } });
  t.same(at(find(ha, 'PodDisruptionBudget', 'ccmesh-injector'), 'spec'), { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'ccmesh', 'app.kubernetes.io/component': 'injector' } } });
});

void t.test('the webhook never sees ccmesh\'s own pods (objectSelector), in any namespace', async (t) => {
  const hook = find(build(), 'MutatingWebhookConfiguration');
  t.same(at(hook, 'webhooks', 0, 'objectSelector'), { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: ['ccmesh'] }] });
  for (const o of build().filter((x) => x.kind === 'StatefulSet' || x.kind === 'Deployment')) {
    t.equal(at(o, 'spec', 'template', 'metadata', 'labels', 'app.kubernetes.io/name'), 'ccmesh', `${String(o.kind)} pods carry the excluded label`);
  }
  const spoof = find(build('coordinator: {podLabels: {app.kubernetes.io/name: other}}\ninjector: {podLabels: {app.kubernetes.io/name: other}}'), 'Deployment');
  t.equal(at(spoof, 'spec', 'template', 'metadata', 'labels', 'app.kubernetes.io/name'), 'ccmesh', 'podLabels cannot take it away');
});

void t.test('sidecar metrics: the PodMonitor on ccmesh-admin in every namespace, and --prometheus-annotations', async (t) => {
  t.equal(find(build(), 'PodMonitor'), undefined);
  const objs = build('metrics: {sidecarPodAnnotations: true, podMonitor: {enabled: true, interval: 15s, labels: {release: prom}}}\ninjector: {proxyMemoryLimit: 256Mi}');
  const pm = find(objs, 'PodMonitor');
  t.same(at(pm, 'spec'), { selector: {}, namespaceSelector: { any: true }, podMetricsEndpoints: [{ port: 'ccmesh-admin', path: '/metrics', interval: '15s', scheme: 'http' }] });
  t.equal(at(pm, 'metadata', 'labels', 'release'), 'prom');
  const args = argsOf(find(objs, 'Deployment'));
  t.ok(args.includes('--prometheus-annotations'));
  t.equal(args[args.indexOf('--proxy-memory-limit') + 1], '256Mi');
});

void t.test('standard labels, scheduling values, pull secrets and the image digest', async (t) => {
  const objs = build('image: {digest: "sha256:' + 'ab'.repeat(32) + '", tag: ignored}\nimagePullSecrets: [regcred]\ncoordinator: {priorityClassName: tee-critical, tolerations: [{key: tee, operator: Exists}], podAnnotations: {x: y, ccmesh.dev/pod-role: ""}}');
  for (const o of objs.filter((x) => x.kind !== 'Namespace')) {
    t.match(at(o, 'metadata', 'labels'), { 'app.kubernetes.io/instance': 'ccmesh', 'app.kubernetes.io/version': '1.2.3', 'app.kubernetes.io/managed-by': 'ccmesh-install', 'helm.sh/chart': 'ccmesh-1.2.3' }, `${String(o.kind)}/${String(at(o, 'metadata', 'name'))}`);
  }
  const sts = find(objs, 'StatefulSet');
  const spec = at(sts, 'spec', 'template', 'spec') as Obj;
  t.same([spec.priorityClassName, spec.tolerations, spec.imagePullSecrets], ['tee-critical', [{ key: 'tee', operator: 'Exists' }], [{ name: 'regcred' }]]);
  t.same(at(sts, 'spec', 'template', 'metadata', 'annotations'), { x: 'y', 'ccmesh.dev/pod-role': 'coordinator' }, 'the pod role can\'t be overridden');
  t.equal(at(sts, 'spec', 'template', 'spec', 'containers', 0, 'image'), `ghcr.io/ccmesh/ccmesh@sha256:${'ab'.repeat(32)}`);
  const args = argsOf(find(objs, 'Deployment'));
  t.equal(args[args.indexOf('--image') + 1], `ghcr.io/ccmesh/ccmesh@sha256:${'ab'.repeat(32)}`, 'injected containers by digest too');
  t.same(at(find(objs, 'Deployment'), 'spec', 'template', 'spec', 'imagePullSecrets'), [{ name: 'regcred' }]);
});

void t.test('a pass-through value the Kubernetes schema refuses is a config error naming it', async (t) => {
  t.throws(() => build('coordinator: {tolerations: [{operator: 5}]}'), { name: 'ConfigError', message: /coordinator\/injector pod values.*Kubernetes schema/s });
});

void t.test('the Coordinator args of an etcd install pass the Coordinator\'s own flag parser (--peers aside)', async (t) => {
  const { readCommandFlags } = await import('../../cli/flags.js');
  const { COORDINATOR_FLAGS, readCoordinatorConfig } = await import('../../coordinator/config.js');
  const { TestMesh } = await import('../../proxy/test/pki.js');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  // The mounted Secret's files, at a temporary directory instead of /var/run/ccmesh/etcd-tls.
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-etcd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await TestMesh.create();
  const client = await pki.leaf(['coordinator']);
  writeFileSync(join(dir, 'ca.crt'), pki.root.certPem);
  writeFileSync(join(dir, 'tls.crt'), client.files.chain);
  writeFileSync(join(dir, 'tls.key'), client.files.key);
  const args = argsOf(find(build(ETCD), 'StatefulSet')).slice(1).map((a) => a.replace('/var/run/ccmesh/etcd-tls', dir));
  const peers = args.indexOf('--peers');
  t.ok(peers > 0, 'rendered on etcd');
  // --peers is the flag another change adds to the Coordinator; the rest must be accepted today.
  const rest = [...args.slice(0, peers), ...args.slice(peers + 2)];
  const { r } = readCommandFlags('coordinator', rest, COORDINATOR_FLAGS);
  const cfg = readCoordinatorConfig(r);
  t.doesNotThrow(() => r.finish(), rest.join(' '));
  t.match(cfg.store, { kind: 'etcd', endpoints: ['https://e0:2379', 'https://e1:2379'], plaintext: false });
  const tls = (cfg.store as { tls: { ca?: Uint8Array; cert?: Uint8Array; key?: Uint8Array } }).tls;
  t.ok(tls.ca && tls.cert && tls.key, 'CA, client certificate and key all read from the mounted Secret\'s file names');
});
