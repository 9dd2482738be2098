import t from 'tap';
import { readSample } from '../../test/fixtures.js';
import { checkTdxReference, parseTdxReferenceValues } from './reference.js';
import { fixedNow, quoteFacts } from '../../test/support/attestation/tdx.js';
import { verifyTdx } from './verify.js';

const V5 = 'tdx/quote-v5-gtg-sample.dat';
const h = (bytes: number, fill = 'ab'): string => fill.repeat(bytes);

void t.test('parses every field, lowercasing hex; allowDebug defaults to false', (t) => {
  const r = parseTdxReferenceValues(
    {
      mrTd: [h(48, 'AB')], rtmr: [h(48), null, null, h(48, 'cd')], mrSeam: [h(48)], mrConfigId: h(48), mrOwner: h(48),
      xfam: h(8), tdAttributes: h(8), reportData: h(64), acceptableTcbStatuses: ['UpToDate', 'OutOfDate'],
    },
    'tdx',
  );
  t.same(r.issues, []);
  t.equal(r.values?.mrTd?.[0], h(48, 'ab'));
  t.same(r.values?.rtmr, [h(48), null, null, h(48, 'cd')]);
  t.equal(r.values?.allowDebug, false);
  t.same(r.values?.acceptableTcbStatuses, ['UpToDate', 'OutOfDate']);
  t.ok(Object.isFrozen(r.values), 'frozen');
  t.same(parseTdxReferenceValues({}, 'tdx'), { values: { allowDebug: false }, issues: [] });
  t.end();
});

void t.test('reports every problem at once with its JSON path', (t) => {
  const r = parseTdxReferenceValues(
    {
      mrTd: ['zz', h(47)], rtmr: [null, null, 'x', null], mrSeam: [], mrConfigId: 5, xfam: h(9), tdAttributes: true,
      allowDebug: 'yes', reportData: h(32), acceptableTcbStatuses: ['UpToDate', 'NoMatchingTcbLevel', 'not_evaluated'], mrSigner: h(48),
    },
    'tdx',
  );
  t.equal(r.values, undefined);
  const fields = r.issues.map((i) => i.field).sort();
  t.same(fields, [
    'tdx.acceptableTcbStatuses[1]', 'tdx.acceptableTcbStatuses[2]', 'tdx.allowDebug', 'tdx.mrConfigId', 'tdx.mrSeam', 'tdx.mrSigner',
    'tdx.mrTd[0]', 'tdx.mrTd[1]', 'tdx.reportData', 'tdx.rtmr[2]', 'tdx.tdAttributes', 'tdx.xfam',
  ]);
  t.match(r.issues.find((i) => i.field === 'tdx.mrSigner')?.expected ?? '', /one of the keys/);
  t.match(parseTdxReferenceValues({ rtmr: [null] }, 'tdx').issues[0]?.expected ?? '', /exactly 4/);
  t.match(parseTdxReferenceValues([], 'x.tdx').issues[0]?.field ?? '', 'x.tdx');
  t.end();
});

void t.test('checks claims field by field against the v5 sample', (t) => {
  const claims = verifyTdx({ quote: readSample(V5), at: fixedNow(V5) }).claims!;
  const body = quoteFacts(V5).td_report_body;
  const exact = parseTdxReferenceValues(
    {
      mrTd: [h(48), body.mr_td], rtmr: [body.rtmr0, null, body.rtmr2, null], mrSeam: [body.mr_seam], mrConfigId: body.mr_config_id,
      mrOwner: body.mr_owner, xfam: body.xfam, tdAttributes: body.td_attributes, reportData: body.report_data,
    },
    'tdx',
  ).values!;
  t.same(checkTdxReference(claims, exact), []);
  const wrong = parseTdxReferenceValues({ mrTd: [h(48)], rtmr: [null, h(48), null, null], mrSeam: [h(48)], xfam: h(8), reportData: h(64) }, 'tdx').values!;
  const reasons = checkTdxReference(claims, wrong);
  t.equal(reasons.length, 5);
  t.match(reasons.join('\n'), /MRTD .* is not one of the 1 reference value/);
  t.match(reasons.join('\n'), /RTMR1 .* differs/);
  const tcb = parseTdxReferenceValues({ acceptableTcbStatuses: ['UpToDate'] }, 'tdx').values!;
  t.same(checkTdxReference(claims, tcb), [], 'not_evaluated is not judged by reference values');
  t.match(checkTdxReference({ ...claims, tcb_status: 'OutOfDate' }, tcb).join(), /OutOfDate/);
  t.end();
});

void t.test('a debug TD is refused unless the reference values allow debugging', (t) => {
  const claims = verifyTdx({ quote: readSample(V5), at: fixedNow(V5) }).claims!;
  t.equal(claims.td_attributes_flags.debug, false, 'the sample is a production TD');
  const debugTd = { ...claims, td_attributes_flags: { ...claims.td_attributes_flags, debug: true } };
  const strict = parseTdxReferenceValues({ mrTd: [claims.mr_td] }, 'tdx').values!;
  t.same(checkTdxReference(claims, strict), [], 'the production TD passes');
  t.same(checkTdxReference(debugTd, strict), ['TD is a debug TD (TDATTRIBUTES bit 0 DEBUG set) but the reference values refuse debug TDs']);
  const lenient = parseTdxReferenceValues({ mrTd: [claims.mr_td], allowDebug: true }, 'tdx').values!;
  t.same(checkTdxReference(debugTd, lenient), [], 'allowDebug lets it pass');
  t.end();
});
