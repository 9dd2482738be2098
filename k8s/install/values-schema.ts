/**
 * The chart's `values.schema.json`, rendered from {@link VALUES_SPEC}: Helm validates the merged values with it, and
 * `ccmesh install --values` validates with the same schema through a JSON Schema validator (values-check.ts); the
 * chart test asserts the file equals this rendering byte for byte. Cross-value rules (VALUE_RULES, the pins) are not
 * JSON Schema; the CLI checks them after the schema, and the chart's `ccmesh.validate` helper `fail`s on them.
 */
import { VALUES_SPEC, type ValueSpec } from './values-spec.js';

type Json = Record<string, unknown>;

/** The JSON Schema (draft-07) of one value. */
export function valueSchema(spec: ValueSpec): Json {
  switch (spec.type) {
    case 'object':
      return {
        type: 'object',
        additionalProperties: false,
        required: Object.keys(spec.fields),
        properties: Object.fromEntries(Object.entries(spec.fields).map(([k, s]) => [k, valueSchema(s)])),
        description: spec.doc,
      };
    case 'string':
      return { type: 'string', ...(spec.pattern !== undefined ? { pattern: spec.pattern } : {}), description: spec.doc };
    case 'integer':
      return { type: 'integer', minimum: spec.minimum, maximum: spec.maximum, description: spec.doc };
    case 'boolean':
      return { type: 'boolean', description: spec.doc };
    case 'enum':
      return { type: 'string', enum: [...spec.values], description: spec.doc };
    case 'stringMap':
      return { type: 'object', additionalProperties: { type: 'string' }, description: spec.doc };
    case 'stringList':
      return { type: 'array', items: { type: 'string', ...(spec.pattern !== undefined ? { pattern: spec.pattern } : {}) }, description: spec.doc };
    case 'mapList':
      return { type: 'array', items: { type: 'object' }, description: spec.doc };
    case 'map':
      return { type: 'object', additionalProperties: false, properties: Object.fromEntries(spec.keys.map((k) => [k, { type: 'object' }])), description: spec.doc };
  }
}

/** The JSON Schema dialect of the chart's schema: draft-07, the newest one every Helm release reads (older Helm 3 validators stop at draft-07). */
export const VALUES_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/** The whole `values.schema.json` document. */
export function valuesJsonSchema(): Json {
  return { $schema: VALUES_SCHEMA_DIALECT, title: 'ccmesh chart values', ...valueSchema(VALUES_SPEC) };
}

/** The whole `values.schema.json` text (two-space JSON and a final newline). */
export function renderValuesSchema(): string {
  return `${JSON.stringify(valuesJsonSchema(), null, 2)}\n`;
}
