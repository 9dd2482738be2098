/**
 * Reference values: parsing reports every problem with its JSON path; checking names the failed expectation.
 * The real gsg sample is a debug guest (facts.json: policy 0xb0000), which the defaults must refuse.
 */
import t from 'tap';
import type { MeasurementHex } from '../../lib/brand.js';
import { factOf, readSample } from '../../test/fixtures.js';
import type { SnpClaims } from './claims.js';
import { checkSnpReference, parseSnpReferenceValues, type SnpReferenceValues } from './reference.js';
import { verifySnp } from './verify.js';

const gsg = factOf('snp/gsg-milan-v2.report.bin') as unknown as { fields: { measurement: string; chip_id: string; report_data: string; host_data: string; policy_hex: string } };
const trustee = factOf('snp/trustee-milan-v2.report.bin') as unknown as { fields: { measurement: string; policy_hex: string; guest_svn: number } };

function claimsOf(rel: string, vek: string): SnpClaims {
  const r = verifySnp({ report: readSample(rel), vek: readSample(vek), chain: readSample('snp/ask_ark_milan.pem'), at: new Date('2024-01-01T00:00:00Z') });
  if (!r.claims) throw new Error('sample must parse');
  return r.claims;
}
const gsgClaims = claimsOf('snp/gsg-milan-v2.report.bin', 'snp/gsg-milan-v2.vcek.der');
const trusteeClaims = claimsOf('snp/trustee-milan-v2.report.bin', 'snp/trustee-milan-v2.vcek.der');

function values(json: unknown): SnpReferenceValues {
  const r = parseSnpReferenceValues(json, 'snp');
  if (!r.values) throw new Error(`reference values must parse: ${JSON.stringify(r.issues)}`);
  return r.values;
}

void t.test('parse: empty object gives the documented defaults', (t) => {
  t.same(parseSnpReferenceValues({}, 'snp'), {
    values: { allowDebug: false, allowMigrationAgent: false, allowSmt: true, vmpl: 0, allowedSigners: ['vcek', 'vlek'] },
    issues: [],
  });
  t.end();
});

void t.test('parse: a full document, hex normalised to lowercase', (t) => {
  const v = values({
    measurements: [gsg.fields.measurement.toUpperCase()], reportData: gsg.fields.report_data, hostData: [gsg.fields.host_data],
    minimumTcb: { bootloader: 2, tee: 0, snp: 5, microcode: 68, fmc: 0 }, allowDebug: true, allowMigrationAgent: false, allowSmt: true,
    vmpl: 0, allowedChipIds: [gsg.fields.chip_id], allowedSigners: ['vcek'], minimumGuestSvn: 0,
  });
  t.same(v.measurements, [gsg.fields.measurement]);
  t.same(v.minimumTcb, { bootloader: 2, tee: 0, snp: 5, microcode: 68, fmc: 0 });
  t.ok(Object.isFrozen(v) && Object.isFrozen(v.measurements));
  t.same(checkSnpReference(gsgClaims, v), [], 'the gsg sample meets these values');
  t.end();
});

void t.test('parse: every problem at once, with JSON paths, values and expectations', (t) => {
  const r = parseSnpReferenceValues({
    measurements: ['00', gsg.fields.measurement, 'zz'], reportData: 5, hostData: [], minimumTcb: { bootloader: 256, tee: -1, snp: 1.5, extra: 1 },
    allowDebug: 'yes', vmpl: 4, allowedChipIds: 'abc', allowedSigners: ['vcek', 'sgx'], minimumGuestSvn: -3, measurement: [],
  }, 'snp');
  t.equal(r.values, undefined);
  t.same(r.issues, [
    { field: 'snp.measurement', value: '[]', expected: 'one of the keys measurements, reportData, hostData, minimumTcb, allowDebug, allowMigrationAgent, allowSmt, vmpl, allowedChipIds, allowedSigners, minimumGuestSvn, allowUnmeasured' },
    { field: 'snp.measurements[0]', value: '00', expected: '48 bytes of hex' },
    { field: 'snp.measurements[2]', value: 'zz', expected: '48 bytes of hex' },
    { field: 'snp.hostData', value: '[]', expected: 'a non-empty list of 32-byte hex strings' },
    { field: 'snp.allowedChipIds', value: 'abc', expected: 'a non-empty list of 64-byte hex strings' },
    { field: 'snp.reportData', value: '5', expected: '64 bytes of hex' },
    { field: 'snp.minimumTcb.extra', value: '1', expected: 'one of the keys bootloader, tee, snp, microcode, fmc' },
    { field: 'snp.minimumTcb.bootloader', value: '256', expected: 'an integer 0-255' },
    { field: 'snp.minimumTcb.tee', value: '-1', expected: 'an integer 0-255' },
    { field: 'snp.minimumTcb.snp', value: '1.5', expected: 'an integer 0-255' },
    { field: 'snp.minimumTcb.microcode', value: undefined, expected: 'an integer 0-255' },
    { field: 'snp.allowDebug', value: 'yes', expected: 'true or false' },
    { field: 'snp.vmpl', value: '4', expected: 'an integer 0-3' },
    { field: 'snp.minimumGuestSvn', value: '-3', expected: 'an integer 0-4294967295' },
    { field: 'snp.allowedSigners[1]', value: 'sgx', expected: 'one of vcek, vlek' },
  ]);
  t.same(parseSnpReferenceValues([], 'refs.snp').issues, [{ field: 'refs.snp', value: '[]', expected: 'an object of SNP reference values' }]);
  t.same(parseSnpReferenceValues(null, 'snp').issues.length, 1);
  t.end();
});

void t.test('check: the defaults refuse the gsg debug guest, naming policy bit 19', (t) => {
  t.equal(gsg.fields.policy_hex, '00000000000b0000', 'facts: DEBUG is set');
  t.same(checkSnpReference(gsgClaims, values({})), ['guest policy allows debugging (POLICY bit 19) but the reference values refuse debug guests']);
  t.same(checkSnpReference(gsgClaims, values({ allowDebug: true })), []);
  t.same(checkSnpReference(trusteeClaims, values({})), [], 'trustee (policy 0x3001f) is not a debug guest');
  t.end();
});

void t.test('check: through verifySnp, reference reasons join the result', (t) => {
  const input = { report: readSample('snp/gsg-milan-v2.report.bin'), vek: readSample('snp/gsg-milan-v2.vcek.der'), chain: readSample('snp/ask_ark_milan.pem'), at: new Date('2024-01-01T00:00:00Z') };
  const refused = verifySnp({ ...input, reference: values({}) });
  t.equal(refused.ok, false);
  t.match(refused.reasons.join('\n'), /POLICY bit 19/);
  t.ok(refused.claims);
  t.equal(verifySnp({ ...input, reference: values({ allowDebug: true, measurements: [gsg.fields.measurement] }) }).ok, true);
  t.end();
});

void t.test('check: each expectation names what differs', (t) => {
  const other = 'ab'.repeat(48);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ measurements: [other] }, new RegExp(`measurement ${trustee.fields.measurement} is not one of the 1 reference measurement`)],
    [{ reportData: 'cd'.repeat(64) }, /REPORT_DATA ec6c52d7.* differs from the expected cdcd/],
    [{ hostData: ['11'.repeat(32)] }, /HOST_DATA 0{64} is not one of the 1 allowed/],
    [{ minimumTcb: { bootloader: 3, tee: 0, snp: 9, microcode: 115 } }, /REPORTED_TCB snp 8 is below the reference minimum 9/],
    [{ minimumTcb: { bootloader: 3, tee: 0, snp: 8, microcode: 116 } }, /REPORTED_TCB microcode 115 is below the reference minimum 116/],
    [{ vmpl: 1 }, /requested at VMPL 0 but the reference values require VMPL 1/],
    [{ allowedChipIds: ['00'.repeat(64)] }, /CHIP_ID c38427a3.* is not one of the 1 allowed chip/],
    [{ allowedSigners: ['vlek'] }, /signed by a VCEK but the reference values allow only VLEK/],
    [{ minimumGuestSvn: 5 }, /GUEST_SVN 4 is below the reference minimum 5/],
    [{ allowSmt: false }, /guest policy allows SMT \(POLICY bit 16\)/],
    [{ allowSmt: false }, /platform has SMT enabled \(PLATFORM_INFO bit 0\)/],
  ];
  for (const [json, re] of cases) {
    const reasons = checkSnpReference(trusteeClaims, values(json));
    t.match(reasons.join('\n'), re, JSON.stringify(json));
  }
  t.same(checkSnpReference(trusteeClaims, values({ minimumTcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: 200 } })), [], 'fmc is ignored on Milan');
  t.same(checkSnpReference(trusteeClaims, values({ measurements: [other, trustee.fields.measurement], minimumGuestSvn: 4 })), []);
  t.end();
});

void t.test('check: migration agent refused by policy bit 18 or a bound REPORT_ID_MA', (t) => {
  const ma: SnpClaims = { ...trusteeClaims, policy: '000000000007001f' };
  t.match(checkSnpReference(ma, values({})).join('\n'), /migration agent \(POLICY bit 18, MIGRATE_MA\)/);
  t.same(checkSnpReference(ma, values({ allowMigrationAgent: true })), []);
  const bound: SnpClaims = { ...trusteeClaims, report_id_ma: '01'.repeat(32) };
  t.match(checkSnpReference(bound, values({})).join('\n'), /a migration agent is bound \(REPORT_ID_MA 0101.* is not all ff\)/);
  const garbled: SnpClaims = { ...trusteeClaims, policy: 'nope', measurement: trusteeClaims.measurement as MeasurementHex };
  t.match(checkSnpReference(garbled, values({})).join('\n'), /not a 64-bit hex value[\s\S]*POLICY bit 19/, 'an unreadable policy is assumed to allow everything');
  t.end();
});
