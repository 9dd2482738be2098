/**
 * Static tests of charts/ccmesh (no `helm` binary here): values.yaml equals the TypeScript defaults, the schema
 * describes the same keys, every `.Values` reference exists and every value is used, the `ccmesh.const.*` helpers
 * equal the shared constants, the YAML outside actions parses and its literal fields equal `install --print` at the
 * same place, the chart fails like the CLI on etcd / replicas > 1 / a partial set of Coordinator pins, the injector's pin
 * args are rendered only when pinned, NOTES warn like the CLI when they are not, Chart.yaml carries the package version, and the
 * README lists every value.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { VERSION } from '../../lib/version.js';
import { ADMIN_HTTP_PATHS, PORTS } from '../../lib/mesh-ports.js';
import { COORDINATOR_STORE_DIR } from '../../lib/pod-layout.js';
import { repoRoot } from '../../test/fixtures.js';
import { ANNOTATIONS, INJECTION_NAMESPACE_LABEL, INSTALL_NAMES } from '../constants.js';
import { buildInstall } from './build.js';
import { findIncludes, findValuesRefs, inlineIncludes, plainHelpers, readDefines, stripActions } from './helm-static.js';
import { NONROOT_ID, TMP_DIR, WEBHOOK_SERVICE_PORT } from './pod-parts.js';
import { ETCD_TLS_DIR } from './coordinator.js';
import { INJECTOR_TLS_DIR } from './injector.js';
import { SIDECAR_POD_MONITOR } from './pod-monitor.js';
import { renderValuesSchema } from './values-schema.js';
import { DEFAULT_VALUES, ETCD_DEFAULT_REPLICAS, parseInstallValues, PINS_PARTIAL, UNPINNED_WARNING, VALUE_RULES, VALUES_SPEC, type ValueSpec } from './values.js';
import { ADMIN_PORT_NAME } from '../inject/parts.js';
import { SIDECAR_ADMIN_PATHS } from '../../lib/mesh-ports.js';

const CHART = join(repoRoot, 'charts', 'ccmesh');
const read = (rel: string): string => readFileSync(join(CHART, rel), 'utf8');
const templateFiles = readdirSync(join(CHART, 'templates')).filter((f) => f.endsWith('.yaml')).sort();
const helpers = read('templates/_helpers.tpl');
const notes = read('templates/NOTES.txt');
const allTemplates = [helpers, ...templateFiles.map((f) => read(`templates/${f}`)), notes].join('\n');
const schema = JSON.parse(read('values.schema.json')) as JsonSchema;
const valuesYaml = parse(read('values.yaml')) as unknown;

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: string[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  description?: string;
}

/** Leaf paths of the spec (maps and lists are leaves). */
function leafPaths(spec: ValueSpec, path = ''): string[] {
  if (spec.type !== 'object') return [path];
  return Object.entries(spec.fields).flatMap(([k, s]) => leafPaths(s, path ? `${path}.${k}` : k));
}

function atPath(o: unknown, path: readonly (string | number)[]): unknown {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

void t.test('Chart.yaml: apiVersion v2, name ccmesh, version and appVersion = the package version', async (t) => {
  const chart = parse(read('Chart.yaml')) as Record<string, unknown>;
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.name, 'ccmesh');
  t.equal(chart.version, VERSION);
  t.equal(chart.appVersion, VERSION);
  t.match(VERSION, /^\d+\.\d+\.\d+/, 'VERSION was read from package.json');
});

void t.test('values.yaml holds exactly the defaults of install --print', async (t) => {
  t.strictSame(valuesYaml, DEFAULT_VALUES);
  t.same(parseInstallValues(valuesYaml, 'values.yaml'), DEFAULT_VALUES, 'and passes the strict parser');
});

void t.test('values.schema.json describes exactly the same keys, types and constraints', async (t) => {
  const compare = (spec: ValueSpec, s: JsonSchema | undefined, path: string): void => {
    const where = path || '(root)';
    if (!s) {
      t.fail(`${where}: missing from the schema`);
      return;
    }
    t.ok(s.description && s.description.length > 0, `${where}: has a description`);
    switch (spec.type) {
      case 'object':
        t.equal(s.type, 'object', `${where}: object`);
        t.equal(s.additionalProperties, false, `${where}: unknown keys refused`);
        t.same(Object.keys(s.properties ?? {}), Object.keys(spec.fields), `${where}: same keys`);
        t.same(s.required, Object.keys(spec.fields), `${where}: all keys required (values.yaml supplies them)`);
        for (const [k, sub] of Object.entries(spec.fields)) compare(sub, s.properties?.[k], path ? `${path}.${k}` : k);
        return;
      case 'string':
        t.equal(s.type, 'string', `${where}: string`);
        t.equal(s.pattern, spec.pattern, `${where}: same pattern`);
        return;
      case 'integer':
        t.same([s.type, s.minimum, s.maximum], ['integer', spec.minimum, spec.maximum], `${where}: integer range`);
        return;
      case 'boolean':
        t.equal(s.type, 'boolean', `${where}: boolean`);
        return;
      case 'enum':
        t.equal(s.type, 'string', `${where}: string enum`);
        t.same(s.enum, spec.values, `${where}: same enum`);
        return;
      case 'stringMap':
        t.equal(s.type, 'object', `${where}: map`);
        t.same(s.additionalProperties, { type: 'string' }, `${where}: of strings`);
        return;
      case 'stringList':
        t.equal(s.type, 'array', `${where}: list`);
        t.same(s.items, { type: 'string', ...(spec.pattern ? { pattern: spec.pattern } : {}) }, `${where}: of strings`);
        return;
      case 'mapList':
        t.same([s.type, s.items], ['array', { type: 'object' }], `${where}: list of maps`);
        return;
      case 'map':
        t.same([s.type, s.additionalProperties, Object.keys(s.properties ?? {})], ['object', false, spec.keys], `${where}: map of the allowed keys`);
        return;
    }
  };
  t.equal(read('values.schema.json'), renderValuesSchema(), 'the file is the rendering of VALUES_SPEC (values-schema.ts)');
  compare(VALUES_SPEC, schema, '');
  // Every pattern in the schema accepts its default (Helm validates values.yaml against the schema).
  for (const p of leafPaths(VALUES_SPEC)) {
    const s = atPath(schema, p.split('.').flatMap((k) => ['properties', k])) as JsonSchema;
    const v = atPath(DEFAULT_VALUES, p.split('.'));
    if (s.pattern && typeof v === 'string') t.match(v, new RegExp(s.pattern), `${p} default matches its pattern`);
  }
});

void t.test('every .Values reference exists in values.yaml and the schema; every value is used', async (t) => {
  const refs = findValuesRefs(allTemplates);
  t.ok(refs.length >= 15, `found ${refs.length} references`);
  for (const ref of refs) {
    const keys = ref.split('.');
    t.not(atPath(valuesYaml, keys), undefined, `${ref} is in values.yaml`);
    t.ok(atPath(schema, keys.flatMap((k) => ['properties', k])), `${ref} is in values.schema.json`);
  }
  for (const leaf of leafPaths(VALUES_SPEC)) {
    t.ok(refs.some((r) => leaf === r || leaf.startsWith(`${r}.`)), `${leaf} is used by a template`);
  }
  t.same(findValuesRefs('{{ .Values.a.b_c }} {{ $.Values.d }} {{ .Valuesx }}'), ['a.b_c', 'd'], 'the reference finder itself');
});

const EXPECTED_CONSTANTS: Readonly<Record<string, string>> = {
  coordinatorUserPort: String(PORTS.coordinatorUser),
  coordinatorMeshPort: String(PORTS.coordinatorMesh),
  coordinatorMetricsPort: String(PORTS.coordinatorMetrics),
  injectorWebhookPort: String(PORTS.injectorWebhook),
  injectorMetricsPort: String(PORTS.injectorMetrics),
  webhookServicePort: String(WEBHOOK_SERVICE_PORT),
  startupProbePath: ADMIN_HTTP_PATHS.startupProbe,
  livenessProbePath: ADMIN_HTTP_PATHS.livenessProbe,
  readinessProbePath: ADMIN_HTTP_PATHS.readinessProbe,
  metricsPath: ADMIN_HTTP_PATHS.metrics,
  coordinatorStoreDir: COORDINATOR_STORE_DIR,
  tmpDir: TMP_DIR,
  nonrootId: String(NONROOT_ID),
  coordinatorName: INSTALL_NAMES.coordinator,
  coordinatorReadyName: INSTALL_NAMES.coordinatorReady,
  injectorName: INSTALL_NAMES.injector,
  webhookConfigurationName: INSTALL_NAMES.webhookConfiguration,
  webhookName: INSTALL_NAMES.webhookName,
  webhookPath: INSTALL_NAMES.webhookPath,
  injectionNamespaceLabel: INJECTION_NAMESPACE_LABEL,
  podRoleAnnotation: ANNOTATIONS.podRole,
  etcdTlsDir: ETCD_TLS_DIR,
  injectorTlsDir: INJECTOR_TLS_DIR,
  sidecarAdminPortName: ADMIN_PORT_NAME,
  sidecarPodMonitorName: SIDECAR_POD_MONITOR,
  sidecarMetricsPath: SIDECAR_ADMIN_PATHS.metrics,
  etcdDefaultReplicas: String(ETCD_DEFAULT_REPLICAS),
};

void t.test('ccmesh.const.* helpers equal the shared constants; templates hold no literal of their own', async (t) => {
  const defs = readDefines(helpers);
  const consts = Object.fromEntries([...defs].filter(([n]) => n.startsWith('ccmesh.const.')).map(([n, b]) => [n.slice('ccmesh.const.'.length), b]));
  t.same(consts, EXPECTED_CONSTANTS);
  t.equal(PORTS.coordinatorMetrics, 9102, 'probes and metrics on 9102, as the issue says');
  for (const f of templateFiles) {
    const text = read(`templates/${f}`);
    t.notMatch(text, /\b(1313|7777|9102|9103|9443|443|65532)\b/, `${f}: no port or uid literal`);
    t.notMatch(text, /\/probe\/|\/metrics|\/var\/lib\/ccmesh|\/inject\b|ccmesh\.dev\//, `${f}: no path or annotation literal`);
  }
  for (const name of findIncludes(allTemplates)) t.ok(defs.has(name), `include "${name}" is defined`);
});

void t.test('the chart fails on every cross-value rule and on partial Coordinator pins with the CLI\'s sentences', async (t) => {
  const validate = readDefines(helpers).get('ccmesh.validate') ?? '';
  // JSON string escaping is Go's for these sentences (only `"` needs escaping).
  for (const [rule, sentence] of Object.entries(VALUE_RULES)) t.ok(validate.includes(`fail ${JSON.stringify(sentence)}`), `${rule} message`);
  t.equal(validate.match(/\bfail "/g)?.length, Object.keys(VALUE_RULES).length + 1, 'no other fail');
  t.match(validate, /if and \(not \$etcd\) \(gt \(int \.Values\.coordinator\.replicas\) 1\) -\}\}\n\{\{- fail "coordinator\.replicas above 1/, 'the file store with replicas > 1');
  t.match(validate, /if and \(gt \(int \.Values\.injector\.replicas\) 1\) \(not \.Values\.injector\.tlsSecret\) \(not \.Values\.injector\.caSecret\) -\}\}\n\{\{- fail "injector\.replicas above 1/, 'injector replicas without a shared certificate');
  t.match(validate, /\$pinsUnset := list \(empty \.Values\.injector\.coordinatorPolicy\) \(empty \.Values\.injector\.meshOwner\) \(empty \.Values\.injector\.coordinatorMeasurements\) -\}\}\n\{\{- if gt \(len \(uniq \$pinsUnset\)\) 1 -\}\}/, 'some pins set and others empty');
  t.ok(validate.includes(`fail ${JSON.stringify(PINS_PARTIAL)}`), 'partial pins message');
  t.match(read('templates/coordinator.yaml'), /^\{\{- include "ccmesh\.validate" \. \}\}/, 'checked before anything renders');
});

/**
 * The chart's literal text against `install --print` of several value sets between them turning every conditional on.
 * The stripped templates keep the text of every branch, so a list item is compared by membership (its literal must be
 * an item of the printed list in some variant; items of objects are matched by `name`, else by position), scalars of
 * maps by path.
 */
void t.test('YAML outside actions parses, and its literal fields equal install --print at the same place', async (t) => {
  const pins = `injector: {coordinatorPolicy: ${'6a'.repeat(32)}, meshOwner: ${'2b'.repeat(32)}, coordinatorMeasurements: [${'1c'.repeat(48)}], replicas: 2, tlsSecret: injector-tls, proxyMemoryLimit: 256Mi, podAnnotations: {a: b}}`;
  const metrics = 'metrics: {podAnnotations: true, sidecarPodAnnotations: true, serviceMonitor: {enabled: true}, podMonitor: {enabled: true}}';
  const variants = [
    `${metrics}\n${pins}\ncoordinator: {podAntiAffinity: required, store: {type: etcd, etcdEndpoints: ['https://etcd-0.etcd:2379'], etcdTlsSecret: etcd-client}}`,
    `${metrics}\ncoordinator: {replicas: 1}`,
  ].map((doc) => buildInstall({ values: parseInstallValues(parse(doc), 't'), namespace: 'ccmesh-system', version: VERSION }));
  const plain = plainHelpers(readDefines(helpers));
  t.ok(plain.has('ccmesh.podSecurityContext') && plain.has('ccmesh.containerSecurityContext'), 'security contexts are inlined and compared too');
  const covered = new Set<string>();
  let compared = 0;
  const key = (o: Record<string, unknown>): string => `${String(o.kind)}/${String(atPath(o, ['metadata', 'name']))}`;
  const compare = (node: unknown, twins: unknown[], path: string, where: string): void => {
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      const lists = twins.filter(Array.isArray) as unknown[][];
      node.forEach((item, i) => {
        if (item === null || item === undefined) return;
        if (typeof item !== 'object') {
          compared++;
          t.ok(lists.some((l) => l.includes(item)), `${where} ${path}[${i}] = ${JSON.stringify(item)} is printed`);
          return;
        }
        const name = (item as Record<string, unknown>).name;
        const matches = lists.map((l) => (typeof name === 'string' ? l.find((x) => (x as Record<string, unknown> | null)?.name === name) : l[i])).filter((x) => x !== undefined);
        t.ok(matches.length > 0, `${where} ${path}[${typeof name === 'string' ? name : i}] has a printed counterpart`);
        compare(item, matches, `${path}[${typeof name === 'string' ? name : i}]`, where);
      });
      return;
    }
    if (typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) compare(v, twins.map((tw) => (tw !== null && typeof tw === 'object' ? (tw as Record<string, unknown>)[k] : undefined)).filter((x) => x !== undefined), `${path}.${k}`, where);
      return;
    }
    compared++;
    t.ok(twins.includes(node), `${where} ${path} = ${JSON.stringify(node)} (printed: ${JSON.stringify(twins)})`);
  };
  for (const f of templateFiles) {
    const stripped = stripActions(inlineIncludes(read(`templates/${f}`), plain));
    for (const doc of parseAllDocuments(stripped)) {
      t.same(doc.errors.map((e) => e.message), [], `${f}: parses`);
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (obj === null) continue;
      const name = atPath(obj, ['metadata', 'name']);
      const twins = variants.flatMap((printed) => printed.filter((p) => p.kind === obj.kind && (typeof name !== 'string' || atPath(p, ['metadata', 'name']) === name)));
      if (twins.length === 0) {
        t.fail(`${f}: ${String(obj.kind)}/${String(name)} has no counterpart in install --print`);
        continue;
      }
      for (const tw of twins) covered.add(key(tw));
      compare(obj, twins, '', `${f} ${String(obj.kind)}`);
    }
  }
  t.ok(compared > 200, `compared ${compared} literal fields`);
  // The ServiceMonitors come from one `range` body (its name is an action); every other printed object has its template.
  for (const p of variants.flat()) {
    if (p.kind === 'Namespace' || p.kind === 'ServiceMonitor') continue;
    t.ok(covered.has(key(p)), `chart renders ${key(p)}`);
  }
});

/**
 * The literal comparison above finds every chart verb printed, not every printed verb in the chart: a permission the
 * CLI grants and the chart forgets (the injector's `update` on its CA Secret, say) needs this check the other way.
 */
void t.test('every Role and ClusterRole of the chart grants exactly the verbs of install --print, rule by rule', async (t) => {
  const printed = buildInstall({ values: parseInstallValues({}, 't'), namespace: 'ccmesh-system', version: VERSION });
  const plain = plainHelpers(readDefines(helpers));
  let checked = 0;
  for (const f of templateFiles) {
    for (const doc of parseAllDocuments(stripActions(inlineIncludes(read(`templates/${f}`), plain)))) {
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (obj === null || (obj.kind !== 'Role' && obj.kind !== 'ClusterRole')) continue;
      const twin = printed.find((p) => p.kind === obj.kind && atPath(p, ['metadata', 'name']) === atPath(obj, ['metadata', 'name']));
      const verbs = (o: unknown): unknown => ((atPath(o, ['rules']) ?? []) as { verbs?: unknown }[]).map((r) => r.verbs);
      t.same(verbs(obj), verbs(twin), `${f} ${String(obj.kind)}: verbs of each rule`);
      checked++;
    }
  }
  t.equal(checked, 2, "the injector's ClusterRole and Role");
});

void t.test('the injector gets the pin args only when pinned, quoted, right after --coordinator', async (t) => {
  const injector = read('templates/injector.yaml');
  const block = [
    '            - {{ include "ccmesh.coordinatorMeshAddress" . }}',
    /^ {12}\{\{- \/\*.*\*\/\}\}$/,
    '            {{- if .Values.injector.coordinatorPolicy }}',
    '            - --coordinator-policy',
    '            - {{ .Values.injector.coordinatorPolicy | quote }}',
    '            - --mesh-owner',
    '            - {{ .Values.injector.meshOwner | quote }}',
    '            {{- range .Values.injector.coordinatorMeasurements }}',
    '            - --coordinator-measurement',
    '            - {{ . | quote }}',
    '            {{- end }}',
    '            {{- end }}',
    '            - --tee',
  ];
  const lines = injector.split('\n');
  const start = lines.indexOf(block[0] as string);
  t.ok(start > 0, 'the --coordinator value line');
  block.forEach((want, i) => {
    if (typeof want === 'string') t.equal(lines[start + i], want, `line ${i}`);
    else t.match(lines[start + i], want, `line ${i}`);
  });
  t.equal(injector.match(/--coordinator-policy|--mesh-owner|--coordinator-measurement/g)?.length, 3, 'nowhere else');
});

void t.test('NOTES warn like install --print when pods are not pinned', async (t) => {
  const m = /\{\{- if \.Values\.injector\.coordinatorPolicy \}\}([\s\S]*?)\{\{- else \}\}([\s\S]*?)\{\{- end \}\}\s*$/.exec(notes);
  t.ok(m, 'an if/else on injector.coordinatorPolicy ends the notes');
  t.match(m?.[1] ?? '', /verify the Coordinator's policy \{\{ \.Values\.injector\.coordinatorPolicy \}\},\s+its launch measurement \(one of \{\{ join ", " \.Values\.injector\.coordinatorMeasurements \}\}\)\s+and its mesh owner \{\{ \.Values\.injector\.meshOwner \}\}/, 'pinned: says which pins');
  t.equal((m?.[2] ?? '').trim(), `WARNING: ${UNPINNED_WARNING}`, 'not pinned: the CLI\'s warning');
  t.notMatch(notes, /\b(1313|7777|9102|9103|9443|65532)\b|ccmesh\.dev\//, 'no port or annotation literal');
  for (const name of findIncludes(notes)) t.ok(readDefines(helpers).has(name), `include "${name}" is defined`);
});

void t.test('the static reader itself', async (t) => {
  const defs = readDefines('{{- define "a" -}}x{{- end -}}\n{{- define "b" -}}\nk: {{ include "a" . }}\n{{- if .c }}y{{- end }}\n{{- end -}}\n');
  t.same([...defs], [['a', 'x'], ['b', 'k: {{ include "a" . }}\n{{- if .c }}y{{- end }}']]);
  const plain = plainHelpers(new Map([['a', 'x'], ['b', 'k: {{ include "a" . }}'], ['c', 'v: {{ .v }}']]));
  t.same([...plain], [['a', 'x'], ['b', 'k: x']]);
  t.equal(inlineIncludes('p: {{ include "a" . | quote }}\n  {{- include "b" . | nindent 4 }}', plain), 'p: "x"\n    k: x');
  t.equal(stripActions('a: {{ .x }}\n  {{- if .y }}\nb: 1\n{{- end }}'), 'a: \nb: 1');
});

void t.test('the README lists every value with its default', async (t) => {
  const readme = read('README.md');
  for (const leaf of leafPaths(VALUES_SPEC)) {
    const def = JSON.stringify(atPath(DEFAULT_VALUES, leaf.split('.')));
    t.ok(readme.includes(`| \`${leaf}\` |`) && readme.split('\n').some((l) => l.startsWith(`| \`${leaf}\` |`) && l.includes(`\`${def}\``)), `${leaf} (default ${def})`);
  }
  t.match(readme, /What was verified, and what wasn't/);
});
