/**
 * Table-driven tests of the strict values parser: defaults, deep merge, and every kind of refusal — each naming
 * the key path and the expected type — including the settings the schema describes but ccmesh can't run yet.
 */
import t from 'tap';
import { parse } from 'yaml';
import { ConfigError } from '../../lib/errors.js';
import { coordinatorReplicas, DEFAULT_VALUES, parseInstallValues, PINS_PARTIAL, VALUE_RULES, withInjectorPins } from './values.js';

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
  t.equal(DEFAULT_VALUES.coordinator.replicas, 0, 'automatic');
  t.equal(coordinatorReplicas(DEFAULT_VALUES), 1, 'one on the file store');
  t.equal(DEFAULT_VALUES.injector.replicas, 2, 'two injectors on the shared CA Secret');
  t.equal(DEFAULT_VALUES.injector.caSecret, 'ccmesh-injector-ca');
  t.equal(DEFAULT_VALUES.injector.proxyMemoryLimit, '', 'no proxy memory limit unless a value sets one');
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

const P = 'ab'.repeat(32);
const O = 'cd'.repeat(32);
const M = 'ef'.repeat(48);
/** An injector values document with all three Coordinator pins, some replaced by raw YAML. */
function pins(over: { coordinatorPolicy?: string; meshOwner?: string; coordinatorMeasurements?: string } = {}): string {
  return `injector:\n  coordinatorPolicy: ${over.coordinatorPolicy ?? P}\n  meshOwner: ${over.meshOwner ?? O}\n  coordinatorMeasurements: ${over.coordinatorMeasurements ?? `[${M}]`}\n`;
}

const REFUSED: readonly { name: string; yaml: string; field: string; value: string; expected: RegExp; issues?: number }[] = [
  { name: 'unknown top-level key', yaml: 'imagee:\n  tag: x\n', field: 'imagee', value: '{"tag":"x"}', expected: /^no such key \(known top-level keys: image, imagePullSecrets, coordinator, injector, metrics\); did you mean image\?$/ },
  { name: 'unknown nested key', yaml: 'coordinator:\n  store:\n    sise: 1Gi\n', field: 'coordinator.store.sise', value: '1Gi', expected: /^no such key \("coordinator.store" has type, size, storageClassName, etcdEndpoints, etcdTlsSecret\); did you mean coordinator\.store\.size\?$/ },
  { name: 'integer as string', yaml: 'injector:\n  timeoutSeconds: "10"\n', field: 'injector.timeoutSeconds', value: '10 (a string)', expected: /an integer from 1 to 30/ },
  { name: 'integer out of range', yaml: 'injector:\n  timeoutSeconds: 31\n', field: 'injector.timeoutSeconds', value: '31', expected: /an integer from 1 to 30/ },
  { name: 'fraction', yaml: 'coordinator:\n  podDisruptionBudget:\n    maxUnavailable: 1.5\n', field: 'coordinator.podDisruptionBudget.maxUnavailable', value: '1.5', expected: /integer/ },
  { name: 'boolean as string', yaml: 'metrics:\n  podAnnotations: "yes"\n', field: 'metrics.podAnnotations', value: 'yes (a string)', expected: /true or false/ },
  { name: 'enum', yaml: 'injector:\n  failurePolicy: fail\n', field: 'injector.failurePolicy', value: 'fail', expected: /one of Fail, Ignore/ },
  { name: 'tee enum', yaml: 'injector:\n  tee: simulated\n', field: 'injector.tee', value: 'simulated', expected: /one of auto, configfs-tsm, sev-guest, tdx-guest/ },
  { name: 'quantity', yaml: 'coordinator:\n  store:\n    size: 1 GB\n', field: 'coordinator.store.size', value: '1 GB', expected: /^a quantity such as 500m, 2 or 1Gi \(digits, an optional fraction and one of m, k, M, G, T, Ki, Mi, Gi, Ti\)$/ },
  { name: 'empty request', yaml: 'injector:\n  resources:\n    requests:\n      cpu: ""\n', field: 'injector.resources.requests.cpu', value: '', expected: /^a quantity such as 500m/ },
  { name: 'storage class name', yaml: 'coordinator:\n  store:\n    storageClassName: Fast_SSD\n', field: 'coordinator.store.storageClassName', value: 'Fast_SSD', expected: /^a name of lowercase letters, digits and "-" that starts and ends with a letter or digit, or empty$/ },
  { name: 'map of non-strings', yaml: 'coordinator:\n  nodeSelector:\n    tee: true\n', field: 'coordinator.nodeSelector.tee', value: 'true (a boolean)', expected: /^a string$/ },
  { name: 'list instead of map', yaml: 'metrics:\n  serviceMonitor:\n    labels: [a]\n', field: 'metrics.serviceMonitor.labels', value: '["a"] (a list)', expected: /map/ },
  { name: 'bad interval', yaml: 'metrics:\n  serviceMonitor:\n    interval: 30\n', field: 'metrics.serviceMonitor.interval', value: '30 (a number)', expected: /^a duration such as 30s, 1m or 500ms/ },
  { name: 'null object', yaml: 'image: null\n', field: 'image', value: 'null (a null)', expected: /a map with keys repository, tag, digest, pullPolicy/ },
  { name: 'document is a list', yaml: '- a\n', field: '(document)', value: '["a"] (a list)', expected: /a map with keys image/ },
  { name: 'coordinatorPolicy in upper case', yaml: pins({ coordinatorPolicy: 'AB'.repeat(32) }), field: 'injector.coordinatorPolicy', value: 'AB'.repeat(32), expected: /^64 lowercase hex digits \(the Coordinator's policy hash\), or empty$/ },
  { name: 'coordinatorPolicy too short', yaml: pins({ coordinatorPolicy: 'ab'.repeat(31) }), field: 'injector.coordinatorPolicy', value: 'ab'.repeat(31), expected: /64 lowercase hex digits/ },
  { name: 'meshOwner not hex', yaml: pins({ meshOwner: 'xy'.repeat(32) }), field: 'injector.meshOwner', value: 'xy'.repeat(32), expected: /^64 lowercase hex digits \(the mesh owner pin\), or empty$/ },
  { name: 'meshOwner with a prefix', yaml: pins({ meshOwner: `sha256:${'cd'.repeat(32)}` }), field: 'injector.meshOwner', value: `sha256:${'cd'.repeat(32)}`, expected: /64 lowercase hex digits/ },
  { name: 'meshOwner as a number (unquoted digits)', yaml: pins({ meshOwner: '1234' }), field: 'injector.meshOwner', value: '1234 (a number)', expected: /64 lowercase hex digits/ },
  { name: 'measurement too short', yaml: pins({ coordinatorMeasurements: `[${'ef'.repeat(32)}]` }), field: 'injector.coordinatorMeasurements[0]', value: 'ef'.repeat(32), expected: /^96 lowercase hex digits \(a launch measurement\)$/ },
  { name: 'measurement in upper case', yaml: pins({ coordinatorMeasurements: `[${'ef'.repeat(48)}, ${'EF'.repeat(48)}]` }), field: 'injector.coordinatorMeasurements[1]', value: 'EF'.repeat(48), expected: /96 lowercase hex digits/ },
  { name: 'measurements not a list', yaml: pins({ coordinatorMeasurements: 'ef'.repeat(48) }), field: 'injector.coordinatorMeasurements', value: `${'ef'.repeat(48)} (a string)`, expected: /^a list of strings, each 96 lowercase hex digits/ },
  { name: 'coordinatorPolicy alone', yaml: `injector:\n  coordinatorPolicy: ${P}\n`, field: 'injector.meshOwner', value: '', expected: /since injector\.coordinatorPolicy is set .*set together or not at all/, issues: 2 },
  { name: 'meshOwner missing', yaml: pins({ meshOwner: '""' }), field: 'injector.meshOwner', value: '', expected: /^64 lowercase hex digits, since injector\.coordinatorPolicy and injector\.coordinatorMeasurements are set \(/ },
  { name: 'coordinatorPolicy missing', yaml: pins({ coordinatorPolicy: '""' }), field: 'injector.coordinatorPolicy', value: '', expected: /since injector\.meshOwner and injector\.coordinatorMeasurements are set/ },
  { name: 'measurements missing', yaml: pins({ coordinatorMeasurements: '[]' }), field: 'injector.coordinatorMeasurements', value: '[]', expected: /^at least one launch measurement \(96 lowercase hex digits\), since injector\.coordinatorPolicy and injector\.meshOwner are set/ },
  { name: 'etcd endpoint not a URL', yaml: 'coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [etcd:2379]\n', field: 'coordinator.store.etcdEndpoints[0]', value: 'etcd:2379', expected: /an etcd client URL, https:\/\/HOST:PORT/ },
  { name: 'etcd endpoint with a path', yaml: 'coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [https://etcd:2379/x]\n', field: 'coordinator.store.etcdEndpoints[0]', value: 'https://etcd:2379/x', expected: /etcd client URL/ },
  { name: 'image digest without algorithm', yaml: `image:\n  digest: ${'ab'.repeat(32)}\n`, field: 'image.digest', value: 'ab'.repeat(32), expected: /^"sha256:" and 64 lowercase hex digits, or empty$/ },
  { name: 'pull secret name', yaml: 'imagePullSecrets: [My_Secret]\n', field: 'imagePullSecrets[0]', value: 'My_Secret', expected: /a Secret name/ },
  { name: 'tolerations not a list of maps', yaml: 'coordinator:\n  tolerations: [tee]\n', field: 'coordinator.tolerations[0]', value: 'tee (a string)', expected: /^a map \(a Kubernetes object\)$/ },
  { name: 'tolerations not a list', yaml: 'coordinator:\n  tolerations: {key: tee}\n', field: 'coordinator.tolerations', value: '{"key":"tee"} (a map)', expected: /^a list of maps \(Kubernetes objects\)$/ },
  { name: 'podAntiAffinity inside affinity', yaml: 'coordinator:\n  affinity:\n    podAntiAffinity: {}\n', field: 'coordinator.affinity.podAntiAffinity', value: '{}', expected: /^no such key \("coordinator.affinity" has nodeAffinity, podAffinity\)/ },
  { name: 'affinity term not a map', yaml: 'injector:\n  affinity:\n    nodeAffinity: [x]\n', field: 'injector.affinity.nodeAffinity', value: '["x"] (a list)', expected: /^a map \(a Kubernetes object\)$/ },
  { name: 'anti-affinity mode', yaml: 'coordinator:\n  podAntiAffinity: hard\n', field: 'coordinator.podAntiAffinity', value: 'hard', expected: /one of preferred, required/ },
  { name: 'proxy memory limit in millibytes', yaml: 'injector:\n  proxyMemoryLimit: 256m\n', field: 'injector.proxyMemoryLimit', value: '256m', expected: /^a memory quantity such as 256Mi or 1Gi \(.*not m\), or empty$/ },
  { name: 'proxy memory limit below the request', yaml: 'injector:\n  proxyMemoryLimit: 64Mi\n', field: 'injector.proxyMemoryLimit', value: '64Mi', expected: /at least the proxy's request 128Mi/ },
  { name: 'file store with 3 replicas', yaml: 'coordinator:\n  replicas: 3\n', field: 'coordinator.replicas', value: '3', expected: /^1 or 0 with the file store \(coordinator\.replicas above 1 needs coordinator\.store\.type "etcd"/ },
  { name: 'etcd without endpoints', yaml: 'coordinator:\n  store:\n    type: etcd\n', field: 'coordinator.store.etcdEndpoints', value: '[]', expected: /needs coordinator\.store\.etcdEndpoints/ },
  { name: 'etcd endpoints with the file store', yaml: 'coordinator:\n  store:\n    etcdEndpoints: [https://e:2379]\n', field: 'coordinator.store.etcdEndpoints', value: 'https://e:2379', expected: /read only with coordinator\.store\.type "etcd"/ },
  { name: 'etcd TLS secret with the file store', yaml: 'coordinator:\n  store:\n    etcdTlsSecret: etcd-client\n', field: 'coordinator.store.etcdTlsSecret', value: 'etcd-client', expected: /read only with/ },
  { name: 'mixed etcd schemes', yaml: 'coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [https://a:2379, http://b:2379]\n', field: 'coordinator.store.etcdEndpoints', value: 'https://a:2379,http://b:2379', expected: /one scheme/ },
  { name: 'etcd TLS with http endpoints', yaml: 'coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [http://a:2379]\n    etcdTlsSecret: etcd-client\n', field: 'coordinator.store.etcdTlsSecret', value: 'etcd-client', expected: /only for https:\/\// },
  { name: 'unknown key, nothing near', yaml: 'coordinator:\n  zzzzzz: 1\n', field: 'coordinator.zzzzzz', value: '1', expected: /^no such key \("coordinator" has replicas, runtimeClassName, .*podDisruptionBudget\)$/ },
  { name: 'a __proto__ key is a key, not a prototype', yaml: '__proto__:\n  image: x\n', field: '__proto__', value: '{"image":"x"}', expected: /^no such key \(known top-level keys: image,/ },
  { name: 'YAML .nan is not an integer', yaml: 'coordinator:\n  replicas: .nan\n', field: 'coordinator.replicas', value: 'NaN', expected: /^an integer from 0 to 7$/ },
  { name: 'YAML .inf is not an integer', yaml: 'injector:\n  timeoutSeconds: .inf\n', field: 'injector.timeoutSeconds', value: 'Infinity', expected: /^an integer from 1 to 30$/ },
  { name: 'enum given a number: one issue, the type named', yaml: 'injector:\n  failurePolicy: 3\n', field: 'injector.failurePolicy', value: '3 (a number)', expected: /^one of Fail, Ignore$/ },
  { name: 'repository with a tag', yaml: 'image:\n  repository: ghcr.io/ccmesh/ccmesh:latest\n', field: 'image.repository', value: 'ghcr.io/ccmesh/ccmesh:latest', expected: /^an image repository such as .*\(printable ASCII without spaces, "@" or a tag\)$/ },
  { name: 'repository with a non-ASCII space (Go and JavaScript read the pattern alike)', yaml: 'image:\n  repository: "ghcr.io/a\\u00a0b"\n', field: 'image.repository', value: 'ghcr.io/a\u00a0b', expected: /^an image repository/ },
  { name: 'a map value under a key with "/" (JSON Pointer ~1)', yaml: 'injector:\n  nodeSelector:\n    kubernetes.io/arch: 1\n', field: 'injector.nodeSelector.kubernetes.io/arch', value: '1 (a number)', expected: /^a string$/ },
  { name: 'an item of a list of strings', yaml: 'imagePullSecrets: [ok, 7]\n', field: 'imagePullSecrets[1]', value: '7 (a number)', expected: /^a Secret name/ },
  { name: 'two injectors without a shared certificate', yaml: 'injector:\n  replicas: 2\n  caSecret: ""\n', field: 'injector.replicas', value: '2', expected: /1 without injector\.caSecret or injector\.tlsSecret \(injector\.replicas above 1 needs injector\.caSecret or injector\.tlsSecret/ },
];

for (const c of REFUSED) {
  void t.test(`refuses: ${c.name}`, async (t) => {
    const issues = issuesOf(c.yaml);
    t.equal(issues.length, c.issues ?? 1, JSON.stringify(issues));
    t.equal(issues[0]?.field, c.field);
    t.equal(issues[0]?.value, c.value);
    t.match(issues[0]?.expected ?? '', c.expected);
  });
}

void t.test('the Coordinator pins: all three set, or none (the default)', async (t) => {
  t.equal(DEFAULT_VALUES.injector.coordinatorPolicy, '', 'not pinned by default');
  t.equal(DEFAULT_VALUES.injector.meshOwner, '');
  t.same(DEFAULT_VALUES.injector.coordinatorMeasurements, []);
  const v = parseInstallValues(parse(pins({ coordinatorMeasurements: `[${M}, ${'0a'.repeat(48)}]` })), 'x');
  t.same([v.injector.coordinatorPolicy, v.injector.meshOwner, v.injector.coordinatorMeasurements], [P, O, [M, '0a'.repeat(48)]]);
  t.equal(v.injector.tee, 'auto', 'siblings keep their defaults');
  t.same(issuesOf('injector:\n  coordinatorPolicy: ""\n  meshOwner: ""\n  coordinatorMeasurements: []\n'), [], 'all empty is "not pinned"');
  const alone = issuesOf(`injector:\n  coordinatorPolicy: ${P}\n`);
  t.same(alone.map((i) => i.field), ['injector.meshOwner', 'injector.coordinatorMeasurements'], 'each missing pin is named');
  t.match(PINS_PARTIAL, /together or not at all/);
});

void t.test('withInjectorPins: later sources override key by key; the result is checked again', async (t) => {
  const pinned = parseInstallValues(parse(`${pins()}  tee: sev-guest\n`), 'x');
  const owner = withInjectorPins(pinned, { meshOwner: 'ef'.repeat(32) }, 'flags');
  t.same([owner.injector.coordinatorPolicy, owner.injector.meshOwner, owner.injector.coordinatorMeasurements, owner.injector.tee], [P, 'ef'.repeat(32), [M], 'sev-guest'], 'only the given pin changes');
  t.ok(Object.isFrozen(owner.injector) && Object.isFrozen(owner.injector.coordinatorMeasurements), 'frozen');
  t.equal(pinned.injector.meshOwner, O, 'the input is not changed');
  const all = withInjectorPins(DEFAULT_VALUES, { coordinatorPolicy: '01'.repeat(32), meshOwner: '02'.repeat(32), coordinatorMeasurements: ['03'.repeat(48)] }, 'ws');
  t.same([all.injector.coordinatorPolicy, all.injector.meshOwner, all.injector.coordinatorMeasurements], ['01'.repeat(32), '02'.repeat(32), ['03'.repeat(48)]]);
  t.throws(() => withInjectorPins(DEFAULT_VALUES, { meshOwner: 'ef'.repeat(32) }, '--mesh-owner'), { name: 'ConfigError', message: /install values from --mesh-owner:\n {2}injector\.coordinatorPolicy: got "", expected 64 lowercase hex digits, since injector\.meshOwner is set/ });
  t.throws(() => withInjectorPins(DEFAULT_VALUES, { coordinatorPolicy: 'AB'.repeat(32), meshOwner: 'ef'.repeat(32), coordinatorMeasurements: [M] }, 'flags'), { name: 'ConfigError', message: /injector\.coordinatorPolicy: got "A/ });
});

void t.test('every problem is reported at once', async (t) => {
  const issues = issuesOf('bogus: 1\nimage:\n  pullPolicy: Sometimes\ncoordinator:\n  replicas: -1\ninjector:\n  timeoutSeconds: x\n');
  t.same(issues.map((i) => i.field).sort(), ['bogus', 'coordinator.replicas', 'image.pullPolicy', 'injector.timeoutSeconds']);
});

void t.test('replicas: automatic is 1 on the file store and 3 on etcd; etcd takes any count', async (t) => {
  const etcd = parseInstallValues(parse('coordinator:\n  store:\n    type: etcd\n    etcdEndpoints: [https://etcd-0.etcd:2379, "https://[fd00::1]:2379"]\n    etcdTlsSecret: etcd-client\n'), 'x');
  t.equal(coordinatorReplicas(etcd), 3);
  t.equal(coordinatorReplicas(parseInstallValues(parse('coordinator:\n  replicas: 5\n  store:\n    type: etcd\n    etcdEndpoints: [http://127.0.0.1:2379]\n'), 'x')), 5);
  t.equal(coordinatorReplicas(parseInstallValues(parse('coordinator:\n  replicas: 1\n'), 'x')), 1, 'an explicit 1 on the file store');
  t.same(issuesOf('injector:\n  replicas: 3\n  tlsSecret: injector-tls\n'), [], 'injector replicas with a shared certificate');
  for (const rule of Object.values(VALUE_RULES)) t.match(rule, /coordinator\.|injector\./, 'each rule names its values');
});

void t.test('the error names the values file and is a config error (exit 64)', async (t) => {
  t.throws(() => parseInstallValues({ nope: 1 }, 'my-values.yaml'), { name: 'ConfigError', code: 'CCMESH_ERR_CONFIG_INVALID', message: /install values from my-values\.yaml/ });
});
