/**
 * Table-driven tests of the strict values parser: defaults, deep merge, and every kind of refusal — each naming
 * the key path and the expected type — including the settings the schema describes but ccmesh can't run yet.
 */
import t from 'tap';
import { parse } from 'yaml';
import { ConfigError } from '../../lib/errors.js';
import { DEFAULT_VALUES, ETCD_NOT_BUILT, parseInstallValues, REPLICAS_NOT_BUILT } from './values.js';

function issuesOf(yamlText: string): { field: string; value: string | undefined; expected: string }[] {
  try {
    parseInstallValues(parse(yamlText), 'test.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => ({ ...i }));
    throw err;
  }
  return [];
}

void t.test('an empty document means the defaults', async (t) => {
  t.same(parseInstallValues(null, 'x'), DEFAULT_VALUES);
  t.same(parseInstallValues({}, 'x'), DEFAULT_VALUES);
  // The defaults a reader of the chart expects (written out here, not taken from the code under test).
  t.equal(DEFAULT_VALUES.image.repository, 'ghcr.io/ccmesh/ccmesh');
  t.equal(DEFAULT_VALUES.coordinator.replicas, 1);
  t.equal(DEFAULT_VALUES.coordinator.store.type, 'file');
  t.equal(DEFAULT_VALUES.injector.failurePolicy, 'Fail');
  t.equal(DEFAULT_VALUES.metrics.serviceMonitor.enabled, false);
  t.equal(DEFAULT_VALUES.coordinator.resources.limits.memory, '', 'no memory limit unless a value sets one');
});

void t.test('a partial document is merged key by key over the defaults', async (t) => {
  const v = parseInstallValues(parse('coordinator:\n  store:\n    size: 5Gi\n  resources:\n    limits:\n      memory: 1Gi\ninjector:\n  failurePolicy: Ignore\n'), 'x');
  t.equal(v.coordinator.store.size, '5Gi');
  t.equal(v.coordinator.store.type, 'file', 'sibling keys keep their defaults');
  t.equal(v.coordinator.store.storageClassName, '');
  t.equal(v.coordinator.resources.limits.memory, '1Gi');
  t.equal(v.coordinator.resources.limits.cpu, '');
  t.equal(v.coordinator.resources.requests.cpu, '100m');
  t.equal(v.injector.failurePolicy, 'Ignore');
  t.equal(v.injector.timeoutSeconds, 10);
  t.equal(v.coordinator.runtimeClassName, 'kata-qemu-snp');
  t.ok(Object.isFrozen(v) && Object.isFrozen(v.coordinator.store), 'the result is frozen');
});

void t.test('maps and lists are taken whole', async (t) => {
  const v = parseInstallValues(parse('coordinator:\n  nodeSelector:\n    tee: snp\nmetrics:\n  serviceMonitor:\n    labels:\n      release: prom\n'), 'x');
  t.same(v.coordinator.nodeSelector, { tee: 'snp' });
  t.same(v.metrics.serviceMonitor.labels, { release: 'prom' });
  t.same(v.injector.nodeSelector, {});
});

const REFUSED: readonly { name: string; yaml: string; field: string; value: string; expected: RegExp }[] = [
  { name: 'unknown top-level key', yaml: 'imagee:\n  tag: x\n', field: 'imagee', value: '{"tag":"x"}', expected: /no such key .*image, coordinator, injector, metrics/ },
  { name: 'unknown nested key', yaml: 'coordinator:\n  store:\n    sise: 1Gi\n', field: 'coordinator.store.sise', value: '1Gi', expected: /no such key .*"coordinator.store" has type, size/ },
  { name: 'integer as string', yaml: 'injector:\n  timeoutSeconds: "10"\n', field: 'injector.timeoutSeconds', value: '10 (a string)', expected: /an integer from 1 to 30/ },
  { name: 'integer out of range', yaml: 'injector:\n  timeoutSeconds: 31\n', field: 'injector.timeoutSeconds', value: '31', expected: /an integer from 1 to 30/ },
  { name: 'fraction', yaml: 'coordinator:\n  podDisruptionBudget:\n    maxUnavailable: 1.5\n', field: 'coordinator.podDisruptionBudget.maxUnavailable', value: '1.5', expected: /integer/ },
  { name: 'boolean as string', yaml: 'metrics:\n  podAnnotations: "yes"\n', field: 'metrics.podAnnotations', value: 'yes (a string)', expected: /true or false/ },
  { name: 'enum', yaml: 'injector:\n  failurePolicy: fail\n', field: 'injector.failurePolicy', value: 'fail', expected: /one of Fail, Ignore/ },
  { name: 'tee enum', yaml: 'injector:\n  tee: simulated\n', field: 'injector.tee', value: 'simulated', expected: /one of auto, configfs-tsm, sev-guest, tdx-guest/ },
  { name: 'quantity', yaml: 'coordinator:\n  store:\n    size: 1 GB\n', field: 'coordinator.store.size', value: '1 GB', expected: /matching/ },
  { name: 'empty request', yaml: 'injector:\n  resources:\n    requests:\n      cpu: ""\n', field: 'injector.resources.requests.cpu', value: '', expected: /matching/ },
  { name: 'storage class name', yaml: 'coordinator:\n  store:\n    storageClassName: Fast_SSD\n', field: 'coordinator.store.storageClassName', value: 'Fast_SSD', expected: /matching/ },
  { name: 'map of non-strings', yaml: 'coordinator:\n  nodeSelector:\n    tee: true\n', field: 'coordinator.nodeSelector.tee', value: 'true (a boolean)', expected: /^a string$/ },
  { name: 'list instead of map', yaml: 'metrics:\n  serviceMonitor:\n    labels: [a]\n', field: 'metrics.serviceMonitor.labels', value: '["a"] (a list)', expected: /map/ },
  { name: 'bad interval', yaml: 'metrics:\n  serviceMonitor:\n    interval: 30\n', field: 'metrics.serviceMonitor.interval', value: '30 (a number)', expected: /matching/ },
  { name: 'null object', yaml: 'image: null\n', field: 'image', value: 'null (a null)', expected: /a map with keys repository, tag, pullPolicy/ },
  { name: 'document is a list', yaml: '- a\n', field: '(document)', value: '["a"] (a list)', expected: /a map with keys image/ },
  { name: 'etcd endpoint not a URL', yaml: 'coordinator:\n  store:\n    etcdEndpoints: [etcd:2379]\n', field: 'coordinator.store.etcdEndpoints[0]', value: 'etcd:2379', expected: /a string matching/ },
];

for (const c of REFUSED) {
  void t.test(`refuses: ${c.name}`, async (t) => {
    const issues = issuesOf(c.yaml);
    t.equal(issues.length, 1, JSON.stringify(issues));
    t.equal(issues[0]?.field, c.field);
    t.equal(issues[0]?.value, c.value);
    t.match(issues[0]?.expected ?? '', c.expected);
  });
}

void t.test('every problem is reported at once', async (t) => {
  const issues = issuesOf('bogus: 1\nimage:\n  pullPolicy: Sometimes\ncoordinator:\n  replicas: 0\ninjector:\n  timeoutSeconds: x\n');
  t.same(issues.map((i) => i.field).sort(), ['bogus', 'coordinator.replicas', 'image.pullPolicy', 'injector.timeoutSeconds']);
});

void t.test('etcd and more than one replica are refused as not built yet', async (t) => {
  const etcd = issuesOf('coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [https://etcd-0:2379]\n');
  t.equal(etcd.length, 1);
  t.equal(etcd[0]?.field, 'coordinator.store.type');
  t.match(etcd[0]?.expected ?? '', /not built/);
  t.ok(etcd[0]?.expected.includes(ETCD_NOT_BUILT));
  const replicas = issuesOf('coordinator:\n  replicas: 3\n');
  t.equal(replicas.length, 1);
  t.equal(replicas[0]?.field, 'coordinator.replicas');
  t.ok(replicas[0]?.expected.includes(REPLICAS_NOT_BUILT));
  t.match(REPLICAS_NOT_BUILT, /etcd store backend is not built/);
  t.same(issuesOf('coordinator:\n  replicas: 1\n'), [], 'one replica is fine');
});

void t.test('the error names the values file and is a config error (exit 64)', async (t) => {
  t.throws(() => parseInstallValues({ nope: 1 }, 'my-values.yaml'), { name: 'ConfigError', code: 'CCMESH_ERR_CONFIG_INVALID', message: /install values from my-values\.yaml/ });
});
