/**
 * `ccmesh install --values` and Helm decide by the same schema. A property test generates values documents from the
 * values description — valid ones, and ones with values of the wrong type, out of range, malformed, set to null, or
 * with unknown keys — and compares the CLI's reader (parseInstallValues) with an independent oracle: the chart's own
 * `values.schema.json` and `values.yaml` read from disk, merged the way Helm merges a values file (maps key by key, a
 * null deletes the key), validated by a separately built ajv. Where the oracle refuses, the CLI refuses naming the
 * same values; where it accepts, the CLI accepts or refuses only for a rule JSON Schema can't express.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import t from 'tap';
import { parse } from 'yaml';
import { ConfigError } from '../../lib/errors.js';
import { repoRoot } from '../../test/fixtures.js';
import { INJECTED_REQUESTS } from '../inject/parts.js';
import { PINS_PARTIAL, parseInstallValues, VALUE_RULES, VALUES_SPEC, type ValueSpec } from './values.js';

const CHART = join(repoRoot, 'charts', 'ccmesh');
const chartSchema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const chartDefaults = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const oracle = new Ajv({ allErrors: true, strict: true }).compile(chartSchema);

type Doc = Record<string, unknown>;

function isMap(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's coalescing of a values file over the chart's values.yaml: maps merge, a null deletes the key, the rest replaces. */
function helmMerge(defaults: Doc, user: Doc): Doc {
  const out: Doc = { ...defaults };
  for (const [k, v] of Object.entries(user)) {
    if (v === null && Object.hasOwn(defaults, k)) delete out[k];
    else Object.defineProperty(out, k, { value: isMap(v) && isMap(defaults[k]) ? helmMerge(defaults[k], v) : v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The value paths the oracle refuses, spelled as the CLI spells them (`a.b`, `a.list[0]`). */
function oracleFields(user: Doc): Set<string> | undefined {
  const merged = helmMerge(chartDefaults, user);
  if (oracle(merged)) return undefined;
  const fields = new Set<string>();
  for (const e of oracle.errors ?? []) {
    let path = '';
    let data: unknown = merged;
    for (const raw of e.instancePath === '' ? [] : e.instancePath.slice(1).split('/')) {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      path = Array.isArray(data) ? `${path}[${seg}]` : path ? `${path}.${seg}` : seg;
      data = (data as Doc)[seg];
    }
    const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : e.keyword === 'required' ? (e.params as { missingProperty: string }).missingProperty : undefined;
    fields.add(extra === undefined ? path : path ? `${path}.${extra}` : extra);
  }
  return fields;
}

/** What the CLI's reader says: accepted, or the issues it refuses with. */
function cli(user: Doc): { field: string; expected: string }[] {
  try {
    parseInstallValues(user, 'generated.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => ({ field: i.field, expected: i.expected }));
  }
}

/** The reasons only the CLI's second step (and the chart's `ccmesh.validate` template) gives: rules beyond JSON Schema. */
const BEYOND_SCHEMA = [...Object.values(VALUE_RULES), PINS_PARTIAL, `at least the proxy's request ${INJECTED_REQUESTS.proxy.memory}`];

/** A valid value for a description. */
function validValue(spec: ValueSpec): fc.Arbitrary<unknown> {
  const key = fc.stringMatching(/^[a-z][a-z0-9./-]{0,12}$/);
  switch (spec.type) {
    case 'string':
      return spec.pattern === undefined ? fc.string({ maxLength: 12 }) : fc.stringMatching(new RegExp(spec.pattern));
    case 'integer':
      return fc.integer({ min: spec.minimum, max: spec.maximum });
    case 'boolean':
      return fc.boolean();
    case 'enum':
      return fc.constantFrom(...spec.values);
    case 'stringMap':
      return fc.dictionary(key, fc.string({ maxLength: 8 }), { maxKeys: 3 });
    case 'stringList':
      return fc.array(spec.pattern === undefined ? fc.string() : fc.stringMatching(new RegExp(spec.pattern)), { maxLength: 3 });
    case 'mapList':
      return fc.array(fc.dictionary(key, fc.string({ maxLength: 8 }), { maxKeys: 2 }), { maxLength: 2 });
    case 'map':
      return fc.record(Object.fromEntries(spec.keys.map((k) => [k, fc.dictionary(key, fc.string({ maxLength: 8 }), { maxKeys: 2 })])), { requiredKeys: [] });
    case 'object':
      return fc.record(Object.fromEntries(Object.entries(spec.fields).map(([k, s]) => [k, validValue(s)])), { requiredKeys: [] });
  }
}

/** Every key path of the description, maps included (where a mutation may land). */
function allPaths(spec: ValueSpec, path: readonly string[] = []): (readonly string[])[] {
  if (spec.type !== 'object') return [path];
  return [path, ...Object.entries(spec.fields).flatMap(([k, s]) => allPaths(s, [...path, k]))];
}

/** A value a user might wrongly write anywhere. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -10, max: 40 }),
  fc.double(),
  fc.boolean(),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('', '1Gi', '100m', '30s', 'Fail', 'etcd', 'ab'.repeat(32), 'https://e:2379', 'ghcr.io/x:1'),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }))), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxKeys: 2 }),
);

interface Mutation {
  readonly path: readonly string[];
  /** Set the value at `path` to `value`, or add the unknown key `key` to the map at `path`. */
  readonly key: string | undefined;
  readonly value: unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.constantFrom(...allPaths(VALUES_SPEC)),
  key: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom('replica', 'imagee', 'sise', 'enabeld', 'tag', 'type')), { nil: undefined }),
  value: junk,
});

function applyMutation(doc: Doc, m: Mutation): void {
  if (m.path.length === 0 && m.key === undefined) return; // the root stays a map (Helm refuses any other values file)
  let cur = doc;
  const parents = m.key === undefined ? m.path.slice(0, -1) : m.path;
  for (const k of parents) {
    if (!isMap(cur[k])) Object.defineProperty(cur, k, { value: {}, enumerable: true, writable: true, configurable: true });
    cur = cur[k] as Doc;
  }
  Object.defineProperty(cur, m.key ?? m.path[m.path.length - 1]!, { value: m.value, enumerable: true, writable: true, configurable: true });
}

const documents: fc.Arbitrary<Doc> = fc
  .tuple(validValue(VALUES_SPEC) as fc.Arbitrary<Doc>, fc.array(mutation, { maxLength: 3 }))
  .map(([doc, mutations]) => {
    const out = structuredClone(doc);
    for (const m of mutations) applyMutation(out, m);
    return out;
  });

void t.test('property: the CLI refuses what Helm\'s schema check refuses, naming the same values, and accepts the rest unless a rule beyond JSON Schema is broken', async (t) => {
  let refusedBySchema = 0;
  let acceptedBySchema = 0;
  let refusedByRules = 0;
  let accepted = 0;
  fc.assert(
    fc.property(documents, (doc) => {
      const want = oracleFields(doc);
      const got = cli(doc);
      if (want !== undefined) {
        refusedBySchema++;
        const fields = new Set(got.map((i) => i.field));
        if (fields.size !== want.size || [...want].some((f) => !fields.has(f))) throw new Error(`schema refuses ${[...want].join(', ')}; the CLI named ${[...fields].join(', ') || 'nothing'}`);
        return;
      }
      acceptedBySchema++;
      if (got.length > 0) refusedByRules++;
      else accepted++;
      for (const i of got) if (!BEYOND_SCHEMA.some((r) => i.expected.includes(r))) throw new Error(`schema accepts, the CLI refuses ${i.field} (${i.expected})`);
    }),
    { numRuns: 400 },
  );
  // The generator reaches every outcome, so the property is not vacuous.
  t.ok(refusedBySchema > 40, `documents the schema refuses: ${refusedBySchema}`);
  t.ok(acceptedBySchema > 40, `documents the schema accepts: ${acceptedBySchema}`);
  t.ok(refusedByRules > 0, `documents refused only by the rules beyond the schema: ${refusedByRules}`);
  t.ok(accepted > 0, `documents the CLI accepts: ${accepted}`);
});

void t.test('the oracle is Helm-like where the CLI words it differently: a null deletes the key, Helm then misses it', async (t) => {
  t.same(oracleFields({ image: null }), new Set(['image']), 'Helm: image is required');
  t.same(cli({ image: null }).map((i) => i.field), ['image'], 'the CLI: image must be a map');
  t.same(oracleFields({ coordinator: { replicas: null } }), new Set(['coordinator.replicas']));
  t.equal(oracleFields({}), undefined, 'the chart\'s defaults pass the chart\'s schema');
  t.equal(oracleFields({ coordinator: { nodeSelector: { 'kubernetes.io/arch': 'amd64' } } }), undefined);
});
