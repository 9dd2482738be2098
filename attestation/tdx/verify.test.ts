import t from 'tap';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { readSample } from '../../test/fixtures.js';
import { normaliseSerial, parseCrl } from '../x509/crl.js';
import type { TdxClaims } from './claims.js';
import { recognizeTdxCollateral, type TdxCollateral } from './collateral.js';
import { parsePckChain } from './pck-chain.js';
import { parseTdxQuote } from './quote.js';
import { parseTdxReferenceValues } from './reference.js';
import { readTcbInfoDocument } from './tcb-info.js';
import { COLLATERAL_2023, collateralFiles, fixedNow, QUOTE_SAMPLES, quoteFacts } from '../../test/support/attestation/tdx.js';
import { createTdxVerifier, verifyTdx } from './verify.js';

const SPR = 'tdx/quote-v4-gtg-spr-e4.dat';
const TRUSTEE = 'tdx/quote-v4-trustee-q4.dat';
const V5 = 'tdx/quote-v5-gtg-sample.dat';
const BITFLIP = 'tdx/negative/quote-v4-gtg-spr-e4.body-bitflip.dat';

function collateral2023(): TdxCollateral {
  const { collateral, issues } = recognizeTdxCollateral(collateralFiles(COLLATERAL_2023));
  if (issues.length > 0) throw new Error(issues.join('; '));
  return collateral;
}

/** Claims the way facts.json spells the TD report body. */
function claimsAsFacts(c: TdxClaims): Record<string, string | null> {
  return {
    tee_tcb_svn: c.tee_tcb_svn, mr_seam: c.mr_seam, mr_signer_seam: c.mr_signer_seam, seam_attributes: c.seam_attributes,
    td_attributes: c.td_attributes, xfam: c.xfam, mr_td: c.mr_td, mr_config_id: c.mr_config_id, mr_owner: c.mr_owner,
    mr_owner_config: c.mr_owner_config, rtmr0: c.rtmr[0], rtmr1: c.rtmr[1], rtmr2: c.rtmr[2], rtmr3: c.rtmr[3],
    report_data: c.report_data, tee_tcb_svn_2: c.tee_tcb_svn_2, mr_service_td: c.mr_service_td,
  };
}

for (const rel of [SPR, TRUSTEE, V5]) {
  void t.test(`${rel}: signatures and PCK chain accepted without collateral; claims equal facts.json`, (t) => {
    const f = quoteFacts(rel);
    const r = verifyTdx({ quote: readSample(rel), at: fixedNow(rel) });
    t.same(r.reasons, []);
    t.equal(r.ok, true);
    const c = r.claims!;
    t.equal(c.tcb_status, 'not_evaluated');
    t.equal(c.qe_tcb_status, 'not_evaluated');
    const got = claimsAsFacts(c);
    for (const [k, v] of Object.entries(f.td_report_body)) t.equal(got[k], v, k);
    if (!('tee_tcb_svn_2' in f.td_report_body)) t.equal(c.tee_tcb_svn_2, null);
    t.equal(c.quote_version, f.quote_version);
    t.equal(c.tee_type, f.tee_type_hex);
    t.equal(c.body_type, f.body_type);
    t.equal(c.qe_vendor_id, f.header.qe_vendor_id);
    t.equal(c.user_data, f.header.user_data);
    t.equal(c.td_attributes_flags.debug, f.td_attributes_decoded.debug);
    t.equal(c.fmspc, f.pck_extensions.fmspc);
    t.equal(c.pce_id, f.pck_extensions.pceid);
    t.equal(c.pce_svn, f.pck_extensions.tcb.pcesvn);
    t.equal(c.qe_isv_svn, f.qe_report.isv_svn);
    t.equal(c.qe_mr_signer, f.qe_report.mr_signer);
    t.end();
  });
}

void t.test('SPR sample with its collateral: no matching TCB level, rejected, never UpToDate', (t) => {
  const r = verifyTdx({ quote: readSample(SPR), at: fixedNow(SPR), collateral: collateral2023() });
  t.equal(r.ok, false);
  t.equal(r.claims?.tcb_status, 'NoMatchingTcbLevel');
  t.equal(r.claims?.qe_tcb_status, 'UpToDate');
  t.equal(r.reasons.length, 1);
  t.match(r.reasons[0], /no matching TCB level/);
  // Even a caller who accepts every Intel status can't make "no match" acceptable.
  const lax = verifyTdx({ quote: readSample(SPR), at: fixedNow(SPR), collateral: collateral2023(), acceptableTcbStatuses: ['UpToDate', 'NoMatchingTcbLevel', 'OutOfDate'] });
  t.equal(lax.ok, false);
  t.end();
});

void t.test('trustee sample with its collateral: accepted, TCB and QE UpToDate; refused by default reference values (debug TD)', (t) => {
  const r = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: collateral2023() });
  t.same(r.reasons, []);
  t.equal(r.ok, true);
  t.equal(r.claims?.tcb_status, 'UpToDate');
  t.equal(r.claims?.qe_tcb_status, 'UpToDate');
  t.equal(r.claims?.tcb_date, '2023-02-15T00:00:00Z');
  t.same(r.claims?.advisory_ids, []);

  const strict = parseTdxReferenceValues({}, 'tdx').values!;
  const refused = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: collateral2023(), reference: strict });
  t.equal(refused.ok, false);
  t.same(refused.reasons, ['TD is a debug TD (TDATTRIBUTES bit 0 DEBUG set) but the reference values refuse debug TDs']);
  const lenient = parseTdxReferenceValues({ allowDebug: true, mrTd: [quoteFacts(TRUSTEE).td_report_body.mr_td] }, 'tdx').values!;
  t.equal(verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), reference: lenient }).ok, true);

  const onlySw = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: collateral2023(), acceptableTcbStatuses: ['SWHardeningNeeded'] });
  t.match(onlySw.reasons.join('\n'), /TDX TCB status is UpToDate, which is not one of the acceptable statuses/);
  t.end();
});

void t.test('v5 sample with the 2026 TCB info: UpToDate via module identity TDX_01; the expired signer is reported', (t) => {
  const { collateral } = recognizeTdxCollateral(collateralFiles(['tcbinfo-tdx-fmspc90c06f000000-2026-02-01.json', 'intel_sgx_tcb_signing.pem']));
  const r = verifyTdx({ quote: readSample(V5), at: fixedNow(V5), collateral });
  t.equal(r.claims?.tcb_status, 'UpToDate');
  t.equal(r.claims?.tdx_module_identity, 'TDX_01');
  t.equal(r.claims?.tcb_date, '2024-11-13T00:00:00Z');
  t.equal(r.claims?.qe_tcb_status, 'not_evaluated', 'no QE identity supplied');
  // The bundled TCB signing certificate expired on 2025-05-21 (Intel re-issued it with the same key; the
  // re-issued certificate is not in testdata), so the only failing check is the signer's validity.
  t.same(r.reasons, ['Intel SGX TCB Signing certificate expired at 2025-05-21T10:50:10.000Z (checked at 2026-02-03T01:00:00.000Z)']);
  t.end();
});

void t.test('the bit-flipped quote is rejected for its quote signature only', (t) => {
  const r = verifyTdx({ quote: readSample(BITFLIP), at: fixedNow(BITFLIP) });
  t.equal(r.ok, false);
  t.equal(r.reasons.length, 1);
  t.match(r.reasons[0], /quote signature does not verify/);
  t.equal(r.claims?.mr_seam, quoteFacts(BITFLIP).td_report_body.mr_seam, 'claims still show what was presented');
  t.end();
});

void t.test('evidence outside the PCK validity window is rejected', (t) => {
  const { not_before: from, not_after: to } = quoteFacts(TRUSTEE).pck_chain[0]!;
  const before = verifyTdx({ quote: readSample(TRUSTEE), at: new Date(new Date(from).getTime() - 1000) });
  t.equal(before.ok, false);
  t.match(before.reasons.join('\n'), /PCK certificate is not valid before 2023-02-07T08:02:55/);
  const after = verifyTdx({ quote: readSample(TRUSTEE), at: new Date(new Date(to).getTime() + 1000) });
  t.equal(after.ok, false);
  t.match(after.reasons.join('\n'), /PCK certificate expired at 2030-02-07T08:02:55/);
  t.end();
});

void t.test('stale collateral is rejected, each stale document named', (t) => {
  const r = verifyTdx({ quote: readSample(TRUSTEE), at: new Date('2023-07-20T00:00:00Z'), collateral: collateral2023() });
  t.equal(r.ok, false);
  const all = r.reasons.join('\n');
  t.match(all, /TCB info \(tcbinfo-tdx-fmspc50806f000000-2023-06-18\.json\) is stale: its nextUpdate was 2023-07-18T08:42:58/);
  t.match(all, /QE identity \(qeidentity-td_qe-2023-06-08\.json\) is stale/);
  t.match(all, /CRL of the PCK Platform CA is stale/);
  const early = verifyTdx({ quote: readSample(TRUSTEE), at: new Date('2023-06-10T00:00:00Z'), collateral: collateral2023() });
  t.match(early.reasons.join('\n'), /TCB info .* is not valid before its issueDate 2023-06-18/);
  t.end();
});

void t.test('collateral tampered by one character is rejected', (t) => {
  const files = collateralFiles(COLLATERAL_2023).map((f) =>
    f.name.startsWith('tcbinfo') ? { ...f, bytes: new Uint8Array(Buffer.from(Buffer.from(f.bytes).toString('utf8').replace('"pcesvn":11', '"pcesvn":10'))) } : f,
  );
  const { collateral, issues } = recognizeTdxCollateral(files);
  t.same(issues, []);
  const r = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral });
  t.equal(r.ok, false);
  t.match(r.reasons.join('\n'), /TCB info \(tcbinfo-.*\) signature does not verify/);
  t.equal(r.claims?.tcb_status, 'not_evaluated', 'an unsigned TCB info is not evaluated');
  t.end();
});

void t.test('trust comes only from the anchors, and CRLs must fit the chain', (t) => {
  const signer = new X509Certificate(readSample('tdx/collateral/intel_sgx_tcb_signing.pem'));
  const r = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), anchors: [signer] });
  t.equal(r.ok, false);
  t.match(r.reasons.join('\n'), /Intel SGX Root CA certificate .* is not a pinned trust anchor/);

  const rootCrlAsPck = { pckCrls: [parseCrl(readSample('tdx/collateral/intel_sgx_root_ca.crl.der'))] };
  const wrong = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: rootCrlAsPck });
  t.match(wrong.reasons.join('\n'), /no CRL of the PCK Platform CA among the supplied PCK CRLs/);

  const noSigner = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: { tcbInfos: collateral2023().tcbInfos! } });
  t.match(noSigner.reasons.join('\n'), /without the "Intel SGX TCB Signing" certificate/);

  const otherFmspc = readTcbInfoDocument(readSample('tdx/collateral/tcbinfo-tdx-fmspc90c06f000000-2026-02-01.json'), 'v5.json');
  const mismatch = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: { ...collateral2023(), tcbInfos: [otherFmspc] } });
  t.match(mismatch.reasons.join('\n'), /no TCB info for FMSPC 50806f000000 among the collateral \(have 90c06f000000\)/);
  t.end();
});

void t.test('revocation: a listed PCK serial and a CRL that does not verify are both refused', (t) => {
  const base = collateral2023();
  const pckCrl = base.pckCrls![0]!;
  const leafSerial = parsePckChain(parseTdxQuote(readSample(TRUSTEE)).signatureData.pckChainPem).path[0].cert.serialNumber;
  // Same signed CRL, with the leaf's serial added to the parsed list: exercises the revocation branch only.
  const listing = { ...pckCrl, revokedSerials: new Set([...pckCrl.revokedSerials, normaliseSerial(leafSerial)]) };
  const revoked = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: { ...base, pckCrls: [listing] } });
  t.equal(revoked.ok, false);
  t.match(revoked.reasons.join('\n'), /PCK certificate \(serial [0-9A-Fa-f]+\) is revoked by the PCK Platform CA CRL/);
  const forged = { ...pckCrl, signature: new Uint8Array(pckCrl.signature).map((b, i) => (i === 10 ? b ^ 1 : b)) };
  const bad = verifyTdx({ quote: readSample(TRUSTEE), at: fixedNow(TRUSTEE), collateral: { ...base, pckCrls: [forged] } });
  t.match(bad.reasons.join('\n'), /CRL of the PCK Platform CA does not verify with its key/);
  t.end();
});

void t.test('a PCK certificate whose key bytes do not decode is a reason, not a crash (fuzz regression)', (t) => {
  // Found by fuzzing: Node parses this certificate but throws from the lazy publicKey getter.
  const b = new Uint8Array(readSample(SPR));
  b[1723] = b[1723]! ^ 1;
  const r = verifyTdx({ quote: b, at: fixedNow(SPR), collateral: collateral2023() });
  t.equal(r.ok, false);
  t.notOk(r.reasons.some((x) => /unexpectedly/.test(x)), r.reasons.join('; '));
  t.match(r.reasons.join('\n'), /PCK certificate key is not a readable ECDSA P-256 key/);
  t.end();
});

void t.test('bad inputs are reasons, not exceptions', (t) => {
  t.same(verifyTdx({ quote: new Uint8Array(10), at: new Date(0) }).reasons.length, 1);
  t.match(verifyTdx({ quote: new Uint8Array(10), at: new Date(0) }).reasons[0], /could not be parsed/);
  t.match(verifyTdx({ quote: readSample(SPR), at: new Date('nonsense') }).reasons[0], /not a valid date/);
  t.end();
});

void t.test('the caching verifier agrees with verifyTdx and still checks time on every call', (t) => {
  const v = createTdxVerifier({ maxCachedChains: 2 });
  const col = collateral2023();
  for (let round = 0; round < 2; round++) {
    for (const rel of QUOTE_SAMPLES) {
      const a = v.verify({ quote: readSample(rel), at: fixedNow(rel), collateral: col });
      const b = verifyTdx({ quote: readSample(rel), at: fixedNow(rel), collateral: col });
      t.same(a, b, `${rel} round ${round}`);
    }
  }
  const late = v.verify({ quote: readSample(TRUSTEE), at: new Date('2031-01-01T00:00:00Z') });
  t.match(late.reasons.join('\n'), /PCK certificate expired/, 'a cached chain is re-judged at the new time');
  t.end();
});

void t.test('property: verifyTdx returns a structured result for random and mutated quotes', (t) => {
  const at = fixedNow(TRUSTEE);
  const col = collateral2023();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1024 }), (b) => {
      const r = verifyTdx({ quote: b, at, collateral: col });
      return r.ok === false && r.reasons.length > 0 && !r.reasons.some((x) => x.includes('unexpectedly'));
    }),
    { numRuns: 100 },
  );
  const samples = [SPR, TRUSTEE, V5].map((rel) => ({ real: readSample(rel), signedEnd: quoteFacts(rel).signed_range[1], at: fixedNow(rel) }));
  const v = createTdxVerifier();
  fc.assert(
    fc.property(
      fc.nat({ max: samples.length - 1 }),
      fc.array(fc.tuple(fc.nat({ max: 5005 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      (which, edits) => {
        const { real, signedEnd, at: when } = samples[which]!;
        const b = new Uint8Array(real);
        for (const [pos, x] of edits) if (pos < b.length) b[pos] = b[pos]! ^ x;
        const r = v.verify({ quote: b, at: when, collateral: col });
        const structured =
          typeof r.ok === 'boolean' && Array.isArray(r.reasons) && r.ok === (r.reasons.length === 0) && !r.reasons.some((x) => x.includes('unexpectedly'));
        // SECURITY: any change to the signed header/body must be refused.
        const touchedSigned = !Buffer.from(b.subarray(0, signedEnd)).equals(Buffer.from(real.subarray(0, signedEnd)));
        return structured && (!touchedSigned || !r.ok);
      },
    ),
    { numRuns: 300 },
  );
  t.end();
});

void t.test('the QE must vouch for the attestation key, and the PCK key for the QE report', (t) => {
  // Each change leaves the quote signature (header + body) intact, so exactly one check can refuse it.
  const withChange = (change: (q: ReturnType<typeof parseTdxQuote>) => void): readonly string[] => {
    const bytes = new Uint8Array(readSample(SPR));
    change(parseTdxQuote(bytes)); // the parse result holds views of `bytes`
    return verifyTdx({ quote: bytes, at: fixedNow(SPR) }).reasons;
  };
  t.same(withChange(() => undefined), [], 'the untouched sample verifies');
  const auth = withChange((q) => {
    if (q.signatureData.qeAuthData.length === 0) throw new Error('sample has no QE authentication data');
    q.signatureData.qeAuthData[0]! ^= 0x01;
  });
  t.same(auth, ['QE report data does not bind the attestation key (SHA-256 of key and QE auth data differs)'], 'other QE auth data: the QE did not vouch for this key');
  const qeSig = withChange((q) => {
    q.signatureData.qeReportSignature[10]! ^= 0x01;
  });
  t.same(qeSig, ['QE report signature does not verify with the PCK certificate key'], 'a QE report the PCK key did not sign');
  t.end();
});
