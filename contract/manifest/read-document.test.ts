/**
 * readManifestDocument: the document form as the file holds it (key order kept), its shape checked with every
 * problem at its JSON path, its meaning left to parseManifest.
 */
import t from 'tap';
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { buildManifestDocument } from './document.js';
import { parseManifestValue } from './parse.js';
import { readManifestDocument } from './read-document.js';
import { fullDocument, manifestFixtures, minimalDocument, type EditableDoc } from '../../test/support/manifest.js';

const f = await manifestFixtures();
const A = f.policyA;

function issuesOf(text: string): ConfigIssue[] {
  try {
    readManifestDocument(text);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

/** The issues of the full document's text after `edit`. */
function issuesAfter(edit: (d: EditableDoc) => void): ConfigIssue[] {
  const d = structuredClone(fullDocument(f)) as EditableDoc;
  edit(d);
  return issuesOf(JSON.stringify(d));
}

void t.test('valid documents come back as the file holds them, key order included', (t) => {
  const reordered = { policies: {}, version: 1, referenceValues: { tdx: [], snp: [{ measurements: ['AB'.repeat(48)] }] }, seedshareOwnerKeys: [], workloadOwnerKeys: [] };
  for (const doc of [minimalDocument(f), fullDocument(f), buildManifestDocument({ workloadOwnerKeys: [], seedshareOwnerKeys: [] }), reordered]) {
    const text = JSON.stringify(doc, null, 2);
    t.equal(JSON.stringify(readManifestDocument(text), null, 2), text);
    t.same(readManifestDocument(new Uint8Array(Buffer.from(text))), doc, 'bytes too');
  }
  t.end();
});

void t.test('the shape only: a document the parser refuses for its values is read', (t) => {
  const doc = { version: 2, policies: { 'not-a-hash': { sans: [], workloadSecretId: '', role: 'boss' } }, referenceValues: { snp: [{}, 7], tdx: [] }, workloadOwnerKeys: ['zz'], seedshareOwnerKeys: [], configDigests: { [A]: { relative: { '../x': 'nothex' } } } };
  t.throws(() => parseManifestValue(doc), ConfigError, 'the parser refuses it');
  t.same(issuesOf(JSON.stringify(doc)), []);
  t.end();
});

void t.test('a field of the wrong JSON type is refused at its path', (t) => {
  const cases: [string, (d: EditableDoc) => void][] = [
    ['policies', (d) => { d['policies'] = []; }],
    [`policies.${A}`, (d) => { d['policies'][A] = 'web'; }],
    [`policies.${A}.sans`, (d) => { d['policies'][A].sans = 'web'; }],
    [`policies.${A}.workloadSecretId`, (d) => { d['policies'][A].workloadSecretId = 7; }],
    [`policies.${A}.role`, (d) => { delete d['policies'][A].role; }],
    ['configDigests', (d) => { d['configDigests'] = 'none'; }],
    [`configDigests.${A}`, (d) => { d['configDigests'][A] = ['/etc/web']; }],
    [`configDigests.${A}./etc/web`, (d) => { d['configDigests'][A]['/etc/web'] = null; }],
    [`configDigests.${A}./etc/web.nginx.conf`, (d) => { d['configDigests'][A]['/etc/web']['nginx.conf'] = 1; }],
    ['referenceValues', (d) => { delete d['referenceValues']; }],
    ['referenceValues.snp', (d) => { d['referenceValues'].snp = {}; }],
    ['referenceValues.tdx', (d) => { delete d['referenceValues'].tdx; }],
    ['referenceValues.simulated[0].ark', (d) => { d['referenceValues'].simulated[0].ark = 1; }],
    ['version', (d) => { d['version'] = '1'; }],
    ['trustDomain', (d) => { d['trustDomain'] = null; }],
    ['workloadOwnerKeys', (d) => { d['workloadOwnerKeys'] = [1]; }],
    ['meshCert.leafLifetime', (d) => { d['meshCert'].leafLifetime = 24; }],
  ];
  for (const [field, edit] of cases) t.same(issuesAfter(edit).map((i) => i.field), [field], field);
  t.end();
});

void t.test('unknown keys are refused, as the parser refuses them', (t) => {
  const issues = issuesAfter((d) => {
    d['zz'] = 1;
    d['policies'][A].extra = true;
    d['referenceValues'].sgx = [];
    d['meshCert'].renew = '1h';
  });
  t.same(issues.map((i) => i.field), ['zz', `policies.${A}.extra`, 'referenceValues.sgx', 'meshCert.renew']);
  t.match(issues[0]?.expected, /^one of the keys version, /);
  t.end();
});

void t.test('the text is read as parseManifest reads it', (t) => {
  t.match(issuesOf('{"version":1,'), [{ field: '$', expected: /^JSON text/ }]);
  t.match(issuesOf('[]'), [{ field: '$', value: '[]', expected: 'a JSON object (the manifest)' }]);
  t.match(issuesOf('{"version":1,"policies":{},"policies":{}}'), [{ field: 'policies', expected: /duplicate key/ }]);
  t.match(issuesOf(`{"a":${'['.repeat(40)}${']'.repeat(40)}}`), [{ expected: /nested at most/ }]);
  let utf8: unknown;
  try {
    readManifestDocument(new Uint8Array([0x7b, 0xff, 0x7d]));
  } catch (err) {
    utf8 = err;
  }
  t.match(utf8, { issues: [{ field: '$', expected: 'UTF-8 text' }] });
  t.end();
});

void t.test('every problem at once', (t) => {
  t.same(issuesOf('{"version":1}').map((i) => i.field), ['policies', 'referenceValues', 'workloadOwnerKeys', 'seedshareOwnerKeys']);
  t.end();
});
