/**
 * Checks merged install values against the chart's JSON Schema — the document values-schema.ts renders, which is
 * `charts/ccmesh/values.schema.json` byte for byte (chart test) — with a JSON Schema validator (ajv, draft-07), so
 * `ccmesh install --values` and Helm accept and refuse values by the same schema. ajv's errors become
 * {@link ConfigIssue}s in the project's words: the value's path (`coordinator.replicas`, `imagePullSecrets[0]`), the
 * value given, and what it must be, taken from the value's description (values-spec.ts), never a regular expression;
 * an unknown key names the known ones and a near one when it looks like a typo.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { closest } from '../../lib/config/argv.js';
import type { ConfigIssue } from '../../lib/errors.js';
import { valuesJsonSchema } from './values-schema.js';
import { describeSpec, VALUES_SPEC, type ValueSpec } from './values-spec.js';

/** A value's description, or a Kubernetes object passed through (an affinity term, a toleration): a map, not looked into. */
type Described = ValueSpec | { readonly type: 'kubernetesObject' };

let compiled: ValidateFunction | undefined;

/**
 * The chart schema's validator, compiled on first use. `strict`: a keyword ajv does not know fails the compile
 * instead of being ignored, so the schema cannot say more than what is checked; `allErrors`: every problem at once.
 */
function validator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, strict: true }).compile(valuesJsonSchema());
  return compiled;
}

/**
 * What the chart's JSON Schema refuses in `merged` (the values after the defaults are merged under the document, as
 * Helm validates them): one issue per value path, in ajv's order (the type when the type is wrong); none when valid.
 */
export function schemaIssues(merged: unknown): ConfigIssue[] {
  const validate = validator();
  if (validate(merged)) return [];
  const byField = new Map<string, ConfigIssue>();
  for (const e of validate.errors ?? []) {
    const issue = toIssue(e, merged);
    if (!byField.has(issue.field) || e.keyword === 'type') byField.set(issue.field, issue);
  }
  return [...byField.values()];
}

/** One ajv error as an issue, located by walking the values description along the error's instance path. */
function toIssue(e: ErrorObject, merged: unknown): ConfigIssue {
  const at = locate(e.instancePath, merged);
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: unknown }).additionalProperty);
    const known = at.spec?.type === 'object' ? Object.keys(at.spec.fields) : at.spec?.type === 'map' ? [...at.spec.keys] : [];
    const near = closest(key, known);
    const where = at.path === '' ? 'known top-level keys:' : `"${at.path}" has`;
    return {
      field: join(at.path, key),
      value: show((at.data as Record<string, unknown>)[key]),
      expected: `no such key (${where} ${known.join(', ')})${near === undefined ? '' : `; did you mean ${join(at.path, near)}?`}`,
    };
  }
  if (e.keyword === 'required') {
    // Not reachable from a document merged over the defaults (every key then exists); kept for a plain answer.
    const key = String((e.params as { missingProperty: unknown }).missingProperty);
    const sub = at.spec === undefined ? undefined : child(at.spec, key, false);
    return { field: join(at.path, key), value: undefined, expected: sub === undefined ? 'a value' : describe(sub) };
  }
  const field = at.path === '' ? '(document)' : at.path;
  if (at.spec === undefined) return { field, value: show(at.data), expected: e.message ?? e.keyword };
  // Say the type when it is the problem: `"3"` (a string) and `3` look alike once printed.
  const kind = kindOf(at.data);
  return { field, value: kind === wantedKind(at.spec) ? show(at.data) : `${show(at.data)} (a ${kind})`, expected: describe(at.spec) };
}

/** The value at a JSON Pointer (ajv's instancePath), its dotted path for messages, and its description. */
function locate(pointer: string, merged: unknown): { path: string; data: unknown; spec: Described | undefined } {
  let path = '';
  let data = merged;
  let spec: Described | undefined = VALUES_SPEC;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const inList = Array.isArray(data);
    path = inList ? `${path}[${seg}]` : join(path, seg);
    data = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[seg] : undefined;
    spec = spec === undefined ? undefined : child(spec, seg, inList);
  }
  return { path, data, spec };
}

/** The description of a map key or list item of a value described by `spec`. */
function child(spec: Described, key: string, item: boolean): Described | undefined {
  switch (spec.type) {
    case 'object':
      return item ? undefined : spec.fields[key];
    case 'map':
      return !item && spec.keys.includes(key) ? { type: 'kubernetesObject' } : undefined;
    case 'stringMap':
      return item ? undefined : { type: 'string', doc: '' };
    case 'stringList':
      if (!item) return undefined;
      return spec.pattern === undefined ? { type: 'string', doc: '' } : { type: 'string', doc: '', pattern: spec.pattern, expected: spec.expected };
    case 'mapList':
      return item ? { type: 'kubernetesObject' } : undefined;
    default:
      return undefined;
  }
}

function describe(spec: Described): string {
  return spec.type === 'kubernetesObject' ? 'a map (a Kubernetes object)' : describeSpec(spec);
}

/** The kind of value a description wants, in the words {@link kindOf} uses. */
function wantedKind(spec: Described): string {
  switch (spec.type) {
    case 'integer':
      return 'number';
    case 'enum':
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'stringList':
    case 'mapList':
      return 'list';
    default:
      return 'map';
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'map' : typeof v;
}

function show(value: unknown): string {
  // Numbers as written: JSON would print NaN and Infinity (YAML's .nan, .inf) as null.
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
