/**
 * A reference-value alternative without a launch measurement accepts any genuine guest: HOST_DATA / MRCONFIGID
 * are chosen by the host, so the host could boot its own image with a pod's policy hash. The parser refuses such
 * an alternative — SNP, TDX and simulated alike — unless it says `"allowUnmeasured": true`, and then the
 * alternative is listed for the loud warnings every command prints.
 */
import t from 'tap';
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { canonicalManifestBytes } from './canonical.js';
import { parseManifestValue } from './parse.js';
import { fullDocument, manifestFixtures, minimalDocument, type EditableDoc } from '../../test/support/manifest.js';
import { manifestTrustWarnings, trustWarningLine } from './trust-warnings.js';
import type { ManifestDocument } from './types.js';

const f = await manifestFixtures();
const M = 'ab'.repeat(48);

function issuesOf(doc: unknown): ConfigIssue[] {
  try {
    parseManifestValue(doc);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

function edited(edit: (d: EditableDoc) => void): EditableDoc {
  const d = structuredClone(fullDocument(f)) as EditableDoc;
  edit(d);
  return d;
}

void t.test('an SNP alternative without measurements is refused, naming referenceValues.snp[i]', (t) => {
  for (const alt of [{}, { hostData: ['cd'.repeat(32)], minimumTcb: { bootloader: 1, tee: 0, snp: 8, microcode: 100 } }, { allowUnmeasured: false }]) {
    const issues = issuesOf(edited((d) => { d['referenceValues'].snp = [{ measurements: [M] }, alt]; }));
    t.equal(issues.length, 1, JSON.stringify(issues));
    t.equal(issues[0]?.field, 'referenceValues.snp[1].measurements', `${JSON.stringify(alt)}: the alternative's path`);
    t.match(issues[0]?.expected, /launch measurement.*allowUnmeasured/s, 'says what to write instead');
  }
  t.end();
});

void t.test('a TDX alternative without mrTd is refused, naming referenceValues.tdx[i]', (t) => {
  for (const alt of [{}, { rtmr: ['cd'.repeat(48), null, null, null], mrConfigId: '00'.repeat(48) }, { allowUnevaluatedTcb: true }]) {
    const issues = issuesOf(edited((d) => { d['referenceValues'].tdx = [alt]; }));
    t.equal(issues.length, 1, JSON.stringify(issues));
    t.equal(issues[0]?.field, 'referenceValues.tdx[0].mrTd', `${JSON.stringify(alt)}: the alternative's path`);
    t.match(issues[0]?.expected, /TDX MRTD.*allowUnmeasured/s);
  }
  t.end();
});

void t.test('simulated roots follow the same rule', (t) => {
  const doc = minimalDocument(f) as EditableDoc;
  doc['referenceValues'].simulated[0].snp = {};
  t.match(issuesOf(doc), [{ field: 'referenceValues.simulated[0].snp.measurements' }]);
  t.end();
});

void t.test('allowUnmeasured: true is accepted, kept in the canonical form and listed for the warnings', (t) => {
  const doc = edited((d) => {
    d['referenceValues'].snp = [{ measurements: [M] }, { allowUnmeasured: true }];
    d['referenceValues'].tdx = [{ allowUnmeasured: true, allowUnevaluatedTcb: true }];
    d['referenceValues'].simulated[0].snp = { allowUnmeasured: true };
  });
  const m = parseManifestValue(doc);
  t.equal(m.referenceValues.snp[1]?.allowUnmeasured, true);
  t.same(manifestTrustWarnings(m), [
    { alternative: 'referenceValues.snp[1]', kind: 'unmeasured' },
    { alternative: 'referenceValues.tdx[0]', kind: 'unmeasured' },
    { alternative: 'referenceValues.tdx[0]', kind: 'unevaluated-tcb' },
    { alternative: 'referenceValues.simulated[0].snp', kind: 'unmeasured' },
  ]);
  t.match(trustWarningLine(manifestTrustWarnings(m)[0]!, 'manifest.json'), /^WARNING: manifest\.json: referenceValues\.snp\[1\] has "allowUnmeasured": true .*ANY genuine guest/);
  const canonical = Buffer.from(canonicalManifestBytes(doc as ManifestDocument)).toString('utf8');
  t.match(canonical, /"allowUnmeasured":true/, 'a different manifest (hash) than one that pins a measurement');
  t.end();
});

void t.test('a measured alternative has no warning; allowUnmeasured: false changes nothing; both at once is refused', (t) => {
  const m = parseManifestValue(fullDocument(f));
  t.same(manifestTrustWarnings(m), []);
  const plain = canonicalManifestBytes(fullDocument(f));
  const explicit = canonicalManifestBytes(edited((d) => { d['referenceValues'].snp[0].allowUnmeasured = false; }) as ManifestDocument);
  t.same(explicit, plain, 'the default spelled out: same canonical bytes (existing manifest hashes unchanged)');
  t.match(issuesOf(edited((d) => { d['referenceValues'].snp[0].allowUnmeasured = true; })), [{ field: 'referenceValues.snp[0].allowUnmeasured', expected: /drop one/ }]);
  t.match(issuesOf(edited((d) => { d['referenceValues'].tdx[0].allowUnmeasured = true; })), [{ field: 'referenceValues.tdx[0].allowUnmeasured' }]);
  t.end();
});
