/**
 * The proxy sidecar's resources and scrape annotations: defaults that match measured use, per-pod overrides, the
 * install's optional memory limit, requests above limits refused with the annotation named, and Prometheus
 * annotations that never replace a pod's own.
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

function pod(annotations: Obj = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', annotations }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } };
}
const proxyOf = (o: KubeObject): Obj => ((o.spec as Obj).initContainers as Obj[])[1]!;
const annotationsOf = (o: KubeObject): Obj => (o.metadata as Obj).annotations as Obj;

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof CcmeshError && err.code === ErrorCode.K8S_INJECT_REFUSED) return err.message;
    throw err;
  }
  throw new Error('not refused');
}

void t.test('defaults: requests cover the measured use, no limit', async (t) => {
  t.same(proxyOf(inject(pod())).resources, { requests: { cpu: '100m', memory: '128Mi' } });
});

void t.test('the install memory limit applies to every proxy; a pod annotation overrides each field', async (t) => {
  t.same(proxyOf(inject(pod(), { proxyMemoryLimit: '256Mi' })).resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
  const sized = inject(pod({ 'ccmesh.dev/proxy-cpu-request': '50m', 'ccmesh.dev/proxy-memory-request': '96Mi', 'ccmesh.dev/proxy-cpu-limit': '500m', 'ccmesh.dev/proxy-memory-limit': '192Mi' }), { proxyMemoryLimit: '256Mi' });
  t.same(proxyOf(sized).resources, { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: '500m', memory: '192Mi' } });
});

void t.test('a request above its limit is refused naming the annotations', async (t) => {
  const cpu = refusal(() => inject(pod({ 'ccmesh.dev/proxy-cpu-request': '2', 'ccmesh.dev/proxy-cpu-limit': '1500m' })));
  t.match(cpu, /Pod ns\/p/);
  t.match(cpu, /CPU request 2 \(ccmesh\.dev\/proxy-cpu-request\) is above its limit 1500m \(ccmesh\.dev\/proxy-cpu-limit\)/);
  const mem = refusal(() => inject(pod({ 'ccmesh.dev/proxy-memory-limit': '100Mi' })));
  t.match(mem, /memory request 128Mi \(the default\) is above its limit 100Mi \(ccmesh\.dev\/proxy-memory-limit\)/);
  const install = refusal(() => inject(pod({ 'ccmesh.dev/proxy-memory-request': '300Mi' }), { proxyMemoryLimit: '256Mi' }));
  t.match(install, /memory request 300Mi \(ccmesh\.dev\/proxy-memory-request\) is above its limit 256Mi \(the install's proxy memory limit; set ccmesh\.dev\/proxy-memory-limit too\)/);
  // Equal is allowed (Guaranteed QoS for the container).
  t.same(proxyOf(inject(pod({ 'ccmesh.dev/proxy-memory-limit': '128Mi' }))).resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '128Mi' } });
  t.same(proxyOf(inject(pod({ 'ccmesh.dev/proxy-memory-limit': '0.125Gi' }))).resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '0.125Gi' } }, 'compared by value, not text');
});

void t.test('proxyMemoryLimit option: a memory quantity at least the default request', async (t) => {
  for (const bad of ['256', '64Mi', '256m', 'lots', '']) {
    t.throws(() => inject(pod(), { proxyMemoryLimit: bad }), { code: ErrorCode.USAGE, message: /invalid inject option proxyMemoryLimit/ }, JSON.stringify(bad));
  }
  t.throws(() => inject(pod(), { proxyMemoryLimit: '64Mi' }), { message: /at least the proxy's memory request 128Mi/ });
});

void t.test('Prometheus annotations: the admin port and path, only on request, never over the pod\'s own', async (t) => {
  t.notOk(Object.keys(annotationsOf(inject(pod()))).some((k) => k.startsWith('prometheus.io/')), 'off by default');
  t.same(annotationsOf(inject(pod({ 'ccmesh.dev/admin-port': '15090' }), { prometheusAnnotations: true })), {
    'ccmesh.dev/admin-port': '15090', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15090', 'prometheus.io/path': '/metrics', 'ccmesh.dev/injected': annotationsOf(inject(pod()))['ccmesh.dev/injected'],
  });
  const own = annotationsOf(inject(pod({ 'prometheus.io/port': '8080' }), { prometheusAnnotations: true }));
  t.equal(own['prometheus.io/port'], '8080');
  t.equal(own['prometheus.io/scrape'], undefined, 'the pod\'s own scrape config is left as it is');
  const once = inject(pod(), { prometheusAnnotations: true });
  t.same(inject(once, { prometheusAnnotations: true }), once, 'idempotent');
});
