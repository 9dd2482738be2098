/**
 * docs/manifest.schema.json is hand-written (no validator dependency), so this test keeps it from drifting: the
 * property names at every object level equal the keys the parser accepts (read back from its unknown-key issue),
 * `required` lists equal what the parser reports missing, and every example document the tests use parses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../../test/fixtures.js';
import { ConfigError } from '../../lib/errors.js';
import { buildManifestDocument } from './document.js';
import { MANIFEST_KEYS, parseManifestValue } from './parse.js';
import { fullDocument, manifestFixtures, minimalDocument, SIMULATED_MEASUREMENT, type EditableDoc } from '../../test/support/manifest.js';

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  $ref?: string;
}
const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'manifest.schema.json'), 'utf8')) as SchemaNode & { $schema: string; $defs: Record<string, SchemaNode> };
const f = await manifestFixtures();
const A = f.policyA;

function resolve(node: SchemaNode | undefined): SchemaNode {
  if (!node) throw new Error('schema node missing');
  if (node.$ref) return resolve(schema.$defs[node.$ref.replace('#/$defs/', '')]);
  return node;
}

/** The issues of the full document after `edit`. */
function issuesAfter(edit: (d: EditableDoc) => void): readonly { field: string; expected: string }[] {
  const d = structuredClone(fullDocument(f)) as EditableDoc;
  edit(d);
  try {
    parseManifestValue(d);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues;
  }
}

/** The keys the parser accepts at the object reached by `at`, from the issue it raises for an unknown key. */
function acceptedKeys(at: (d: EditableDoc) => Record<string, unknown>): string[] {
  const issue = issuesAfter((d) => { at(d)['zzUnknown'] = 1; }).find((i) => i.field.endsWith('zzUnknown'));
  const m = /^one of the keys (.*)$/.exec(issue?.expected ?? '');
  if (!m?.[1]) throw new Error('no unknown-key issue');
  return m[1].split(', ').sort();
}

const levels: [string, SchemaNode, (d: EditableDoc) => Record<string, unknown>][] = [
  ['manifest', schema, (d) => d],
  ['policy entry', resolve(schema.$defs['policyEntry']), (d) => d['policies'][A]],
  ['referenceValues', resolve(schema.properties?.['referenceValues']), (d) => d['referenceValues']],
  ['snp alternative', resolve(schema.$defs['snpReferenceValues']), (d) => d['referenceValues'].snp[0]],
  ['snp minimumTcb', resolve(resolve(schema.$defs['snpReferenceValues']).properties?.['minimumTcb']), (d) => d['referenceValues'].snp[0].minimumTcb],
  ['tdx alternative', resolve(schema.$defs['tdxReferenceValues']), (d) => d['referenceValues'].tdx[0]],
  ['simulated root', resolve(resolve(schema.properties?.['referenceValues']).properties?.['simulated']?.items), (d) => d['referenceValues'].simulated[0]],
  ['meshCert', resolve(schema.properties?.['meshCert']), (d) => d['meshCert']],
];

void t.test('schema: draft 2020-12, top-level properties are exactly the parser keys', (t) => {
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.same(Object.keys(schema.properties ?? {}).sort(), [...MANIFEST_KEYS].sort());
  t.end();
});

void t.test('schema: every object level lists exactly the keys the parser accepts', (t) => {
  for (const [name, node, at] of levels) {
    t.same(Object.keys(node.properties ?? {}).sort(), acceptedKeys(at), name);
  }
  t.end();
});

void t.test('schema: required lists equal the keys whose absence the parser reports', (t) => {
  for (const [name, node, at] of levels) {
    if (name.includes('alternative')) continue; // SNP/TDX fields are all optional (minimumTcb is its own level)
    const missing = Object.keys(node.properties ?? {}).filter((key) =>
      issuesAfter((d) => { delete at(d)[key]; }).some((i) => i.field === key || i.field.endsWith(`.${key}`)),
    );
    t.same(missing.sort(), [...(node.required ?? [])].sort(), name);
  }
  t.end();
});

void t.test('the example documents parse', (t) => {
  for (const doc of [minimalDocument(f), fullDocument(f), buildManifestDocument({ workloadOwnerKeys: [], seedshareOwnerKeys: [f.seedRsa], simulatedArkPem: f.simulatedArkPem, simulatedSnp: { measurements: [SIMULATED_MEASUREMENT] } })]) {
    t.doesNotThrow(() => parseManifestValue(doc));
  }
  t.end();
});
