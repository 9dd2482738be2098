/** pinMeasurements: every SNP / TDX alternative gets the image's measurement; simulated roots are left alone. */
import t from 'tap';
import { pinMeasurements } from './reference-measurements.js';

const A = 'ab'.repeat(48);
const B = 'cd'.repeat(48);

void t.test('an empty list gets one alternative; existing alternatives get the measurement merged in', (t) => {
  const before = {
    version: 1,
    referenceValues: { snp: [{ measurements: [A.toUpperCase()], allowDebug: false }, { allowUnmeasured: true }], tdx: [], simulated: [{ name: 'dev', snp: { measurements: ['00'.repeat(48)] } }] },
  };
  const frozen = JSON.stringify(before);
  const r = pinMeasurements(before, { snp: [A, B], tdx: [B] });
  t.same(r.manifest.referenceValues, {
    snp: [{ measurements: [A.toUpperCase(), B], allowDebug: false }, { measurements: [A, B] }],
    tdx: [{ mrTd: [B] }],
    simulated: [{ name: 'dev', snp: { measurements: ['00'.repeat(48)] } }],
  });
  t.same(r.changes, [
    'referenceValues.snp[0].measurements: +1',
    'referenceValues.snp[1].measurements: +2, allowUnmeasured removed',
    'referenceValues.tdx[0]: new alternative with mrTd (1)',
  ]);
  t.equal(JSON.stringify(before), frozen, 'the input is not modified');
  t.end();
});

void t.test('nothing to pin, or already pinned: the same document, no changes', (t) => {
  const doc = { referenceValues: { snp: [{ measurements: [A] }], tdx: [] } };
  t.equal(pinMeasurements(doc, { snp: [], tdx: [] }).manifest, doc);
  t.same(pinMeasurements(doc, { snp: [A], tdx: [] }), { manifest: doc, changes: [] });
  t.end();
});
