/**
 * verifySnp and the cached verifier against the real samples: what facts.json expects at its recommended time,
 * claims equal to facts.json's fields, and every way the real collateral can be misused (tampering, wrong product,
 * VLEK chain, wrong VCEK, time outside validity, unpinned anchors).
 */
import t from 'tap';
import { factOf, facts, readSample } from '../../test/fixtures.js';
import { parseCertificates } from '../x509/pem.js';
import type { SnpClaims } from './claims.js';
import { amdArks } from './roots.js';
import { createSnpVerifier, type SnpVerifyInput, verifySnp } from './verify.js';

interface TcbFact { bootloader: number; tee: number; snp: number; microcode: number }
interface ReportFacts {
  product: string;
  verify_with: { vek_certificate: string; ask_ark_chain: string; signing_key_kind: string };
  verification_time: { recommended_fixed_now: string; valid_window: [string, string] };
  expected_result: string;
  fields: Record<string, unknown> & {
    policy_hex: string; policy_decoded: { abi_minor: number; abi_major: number; flags: string[] }; platform_info_hex: string;
    reported_tcb: TcbFact; committed_tcb: TcbFact; launch_tcb: TcbFact; current_tcb: TcbFact;
  };
}

const reports = Object.entries(facts().files)
  .filter(([, f]) => String(f.kind).startsWith('sev-snp-attestation-report'))
  .map(([rel]) => rel);

function inputFor(rel: string, overrides: Partial<SnpVerifyInput> = {}): SnpVerifyInput {
  const f = factOf(rel) as unknown as ReportFacts;
  return {
    report: readSample(rel),
    vek: readSample(f.verify_with.vek_certificate),
    chain: readSample(f.verify_with.ask_ark_chain),
    at: new Date(f.verification_time.recommended_fixed_now),
    ...overrides,
  };
}

const tcbOf = (f: TcbFact): TcbFact => ({ bootloader: f.bootloader, tee: f.tee, snp: f.snp, microcode: f.microcode });

/** The claims facts.json implies for a report (only facts' values, never our own output). */
function expectedClaims(rel: string): Partial<Record<keyof SnpClaims, unknown>> {
  const f = factOf(rel) as unknown as ReportFacts;
  const x = f.fields;
  return {
    version: x.version, product: f.product.toLowerCase(), signer: f.verify_with.signing_key_kind.toLowerCase(),
    measurement: x.measurement, report_data: x.report_data, host_data: x.host_data, chip_id: x.chip_id, vmpl: x.vmpl,
    policy: x.policy_hex, policy_decoded: x.policy_decoded, guest_svn: x.guest_svn, family_id: x.family_id, image_id: x.image_id,
    id_key_digest: x.id_key_digest, author_key_digest: x.author_key_digest, report_id: x.report_id, report_id_ma: x.report_id_ma,
    signature_algo: x.signature_algo, platform_info: x.platform_info_hex,
    reported_tcb: tcbOf(x.reported_tcb), committed_tcb: tcbOf(x.committed_tcb), launch_tcb: tcbOf(x.launch_tcb), current_tcb: tcbOf(x.current_tcb),
    current_version: x.current_version, committed_version: x.committed_version,
  };
}

for (const rel of reports) {
  void t.test(`${rel}: ${String(factOf(rel).expected_result)} at the recommended time`, (t) => {
    const f = factOf(rel) as unknown as ReportFacts;
    for (const [name, result] of [['verifySnp', verifySnp(inputFor(rel))], ['cached verifier', createSnpVerifier().verify(inputFor(rel))]] as const) {
      t.ok(result.claims, `${name}: claims are present`);
      t.has(result.claims, expectedClaims(rel), `${name}: claims equal facts.json`);
      if (f.expected_result === 'accept') {
        t.same(result.reasons, [], `${name}: no reasons`);
        t.equal(result.ok, true, `${name}: accepted`);
      } else {
        t.equal(result.ok, false, `${name}: rejected`);
        t.match(f.expected_result, /signature/);
        t.same(result.reasons.length, 1, `${name}: exactly one reason`);
        t.match(result.reasons[0], /report signature does not verify/, `${name}: the reason names the signature`);
      }
    }
    t.end();
  });
}

void t.test('claims are JSON-ready (no bigint, no bytes) and keep the documented key set', (t) => {
  const { claims } = verifySnp(inputFor('snp/gsg-milan-v2.report.bin'));
  const json = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
  t.same(json, claims);
  t.same(Object.keys(json).sort(), [
    'author_key_digest', 'author_key_en', 'chip_id', 'committed_tcb', 'committed_version', 'current_tcb', 'current_version', 'family_id',
    'guest_svn', 'host_data', 'id_key_digest', 'image_id', 'launch_tcb', 'measurement', 'platform_flags', 'platform_info', 'policy',
    'policy_decoded', 'product', 'report_data', 'report_id', 'report_id_ma', 'reported_tcb', 'signature_algo', 'signer', 'version', 'vmpl',
  ]);
  t.end();
});

void t.test('trustee report: the VCEK matches REPORTED_TCB although CURRENT_TCB is higher', (t) => {
  const r = verifySnp(inputFor('snp/trustee-milan-v2.report.bin'));
  t.equal(r.ok, true);
  const x = (factOf('snp/trustee-milan-v2.report.bin') as unknown as ReportFacts).fields;
  t.not(x.current_tcb.microcode, x.reported_tcb.microcode, 'facts: the two TCBs differ');
  t.end();
});

for (const [chain, product] of [['snp/ask_ark_genoa.pem', 'Genoa'], ['snp/ask_ark_turin_vcek.pem', 'Turin']] as const) {
  void t.test(`a Milan report checked with the ${product} chain is refused naming both products`, (t) => {
    for (const verify of [verifySnp, createSnpVerifier().verify]) {
      const r = verify(inputFor('snp/gsg-milan-v2.report.bin', { chain: readSample(chain) }));
      t.equal(r.ok, false);
      const wrong = r.reasons.find((x) => /wrong product/.test(x));
      t.match(wrong, new RegExp(`for ${product} but the VEK is for Milan`));
      t.match(r.reasons.join('\n'), /issuer does not name/, 'the chain check fails too');
    }
    t.end();
  });
}

void t.test('a VCEK-signed report checked with the VLEK chain is refused', (t) => {
  const r = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { chain: readSample('snp/ask_ark_milan_vlek.pem') }));
  t.equal(r.ok, false);
  const all = r.reasons.join('\n');
  t.match(all, /signed by a VCEK \(SIGNING_KEY 0\) but the certificate chain \(SEV-VLEK-Milan\) certifies a VLEK/);
  t.match(all, /no cspID/);
  t.end();
});

for (const [at, re] of [
  ['2020-01-01T00:00:00Z', /VCEK certificate is not valid before 2022-09-24T00:55:28.000Z/],
  ['2031-01-01T00:00:00Z', /VCEK certificate expired at 2029-09-24T00:55:28.000Z/],
] as const) {
  void t.test(`at ${at}, outside the VCEK validity, the report is refused`, (t) => {
    const [start, end] = (factOf('snp/gsg-milan-v2.report.bin') as unknown as ReportFacts).verification_time.valid_window;
    t.equal(start, '2022-09-24T00:55:28Z');
    t.equal(end, '2029-09-24T00:55:28Z');
    const r = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { at: new Date(at) }));
    t.equal(r.ok, false);
    t.match(r.reasons.join('\n'), re);
    t.ok(r.claims, 'claims are still shown');
    t.end();
  });
}

void t.test('a chain that does not end at a pinned ARK is refused', (t) => {
  const none = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { anchors: [] }));
  t.equal(none.ok, false);
  t.match(none.reasons.join('\n'), /ARK certificate \(.*CN=ARK-Milan.*\) is not a pinned trust anchor/);
  const genoaOnly = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { anchors: [amdArks()[1]!.cert] }));
  t.match(genoaOnly.reasons.join('\n'), /not a pinned trust anchor/);
  const milanOnly = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { anchors: [amdArks()[0]!.cert] }));
  t.equal(milanOnly.ok, true, 'the Milan ARK alone suffices');
  t.end();
});

void t.test('a chain with only the ASK is completed with the pinned ARK', (t) => {
  const bundle = Buffer.from(readSample('snp/ask_ark_milan.pem')).toString('latin1');
  const askOnly = bundle.slice(0, bundle.indexOf('-----END CERTIFICATE-----') + 25);
  t.equal(parseCertificates(new Uint8Array(Buffer.from(askOnly)), 'ask').length, 1);
  const r = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { chain: new Uint8Array(Buffer.from(askOnly)) }));
  t.same(r.reasons, []);
  const lonely = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { chain: new Uint8Array(Buffer.from(askOnly)), anchors: [] }));
  t.match(lonely.reasons.join('\n'), /no pinned ARK is its issuer/);
  t.end();
});

void t.test('the VCEK of another chip and TCB (trustee VCEK with the gsg report) is refused naming hwID and TCB', (t) => {
  const r = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { vek: readSample('snp/trustee-milan-v2.vcek.der') }));
  t.equal(r.ok, false);
  const all = r.reasons.join('\n');
  t.match(all, /VCEK hwID c38427a3.* differs from the report CHIP_ID/);
  t.match(all, /VEK blSPL 3 differs from REPORTED_TCB bootloader 2/);
  t.match(all, /VEK snpSPL 8 differs from REPORTED_TCB snp 5/);
  t.match(all, /VEK ucodeSPL 115 differs from REPORTED_TCB microcode 68/);
  t.match(all, /report signature does not verify/);
  t.end();
});

void t.test('the Turin VCEK with a Milan report and chain: product, hwID length and chain all refused', (t) => {
  const r = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { vek: readSample('snp/virtee-turin.vcek.der') }));
  t.equal(r.ok, false);
  t.match(r.reasons.join('\n'), /wrong product: the certificate chain \(SEV-Milan\) is for Milan but the VEK is for Turin/);
  t.end();
});

void t.test('malformed inputs become reasons, never exceptions', (t) => {
  const short = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { report: new Uint8Array(100) }));
  t.same(short, { ok: false, claims: undefined, reasons: ['SNP report: expected 1184 bytes, got 100'] });
  const badVek = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { vek: new Uint8Array([1, 2, 3]) }));
  t.equal(badVek.ok, false);
  t.match(badVek.reasons.join('\n'), /VEK certificate is not readable/);
  t.match(badVek.reasons.join('\n'), /report signature was not checked/);
  t.equal(badVek.claims?.product, 'milan', 'a v2 report without a readable VEK takes the product from the chain');
  const nothing = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { vek: new Uint8Array(0), chain: new Uint8Array(0) }));
  t.equal(nothing.claims, undefined, '...and with neither, there is no product and so no claims');
  t.match(nothing.reasons.join('\n'), /cannot identify the AMD product/);
  const badChain = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { chain: new Uint8Array(Buffer.from('hello')) }));
  t.match(badChain.reasons.join('\n'), /SNP certificate chain: not a readable X.509 certificate/);
  t.equal(badChain.claims?.product, 'milan', 'with a VEK the product comes from productName');
  const badTime = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { at: new Date('nonsense') }));
  t.same(badTime.reasons, ['verification time is not a valid date']);
  const badCrl = verifySnp(inputFor('snp/gsg-milan-v2.report.bin', { crls: [new Uint8Array([0x30, 0x00])] }));
  t.match(badCrl.reasons.join('\n'), /CRL #1 is not readable/);
  t.end();
});

void t.test('cached verifier: reuses collateral work, but never a result outside the validity window', (t) => {
  const v = createSnpVerifier();
  const base = inputFor('snp/gsg-milan-v2.report.bin');
  t.equal(v.verify(base).ok, true);
  t.equal(v.cacheSize, 1);
  t.equal(v.verify({ ...base, report: readSample('snp/negative/gsg-milan-v2.report.reportdata-bitflip.bin') }).ok, false, 'report checks are never cached');
  t.equal(v.cacheSize, 1, 'same VEK + chain: same entry');
  const late = v.verify({ ...base, at: new Date('2031-01-01T00:00:00Z') });
  t.equal(late.ok, false);
  t.match(late.reasons.join('\n'), /expired/);
  const early = v.verify({ ...base, at: new Date('2020-01-01T00:00:00Z') });
  t.match(early.reasons.join('\n'), /not valid before/);
  t.equal(v.verify(base).ok, true, 'back inside the window: accepted again');
  t.equal(v.verify({ ...base, at: new Date('2029-09-24T00:55:28Z') }).ok, true, 'the last instant of the window is inside');
  t.equal(v.verify({ ...base, at: new Date('2029-09-24T00:55:29Z') }).ok, false, 'one second later is not');
  // A first call outside the window must not poison the entry for later calls inside it.
  const v2 = createSnpVerifier();
  t.equal(v2.verify({ ...base, at: new Date('2031-01-01T00:00:00Z') }).ok, false);
  t.equal(v2.verify(base).ok, true);
  // A different chain is a different entry.
  t.equal(v.verify({ ...base, chain: readSample('snp/ask_ark_genoa.pem') }).ok, false);
  t.equal(v.cacheSize, 2);
  t.end();
});

void t.test('cached verifier: anchors are fixed at creation, and the cache is bounded', (t) => {
  const base = inputFor('snp/gsg-milan-v2.report.bin');
  const strict = createSnpVerifier({ anchors: [] });
  t.match(strict.verify(base).reasons.join('\n'), /not a pinned trust anchor/);
  const v = createSnpVerifier({ maxCacheEntries: 2 });
  const r = v.verify({ ...base, anchors: [] });
  t.equal(r.ok, false);
  t.match(r.reasons[0], /anchors are fixed/);
  for (const chain of ['snp/ask_ark_milan.pem', 'snp/ask_ark_genoa.pem', 'snp/ask_ark_turin_vcek.pem']) v.verify({ ...base, chain: readSample(chain) });
  t.equal(v.cacheSize, 2);
  t.equal(v.verify(base).ok, true, 'an evicted entry is simply rebuilt');
  t.end();
});
