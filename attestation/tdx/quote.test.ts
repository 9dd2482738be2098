import t from 'tap';
import fc from 'fast-check';
import { toHex } from '../../lib/bytes.js';
import { readSample } from '../../test/fixtures.js';
import { parseTdxQuote, TdxQuoteParseError } from './quote.js';
import { QUOTE_SAMPLES, quoteFacts } from '../../test/support/attestation/tdx.js';

const BODY_FIELDS: Record<string, (q: ReturnType<typeof parseTdxQuote>) => Uint8Array | undefined> = {
  tee_tcb_svn: (q) => q.body.teeTcbSvn,
  mr_seam: (q) => q.body.mrSeam,
  mr_signer_seam: (q) => q.body.mrSignerSeam,
  seam_attributes: (q) => q.body.seamAttributes,
  td_attributes: (q) => q.body.tdAttributes,
  xfam: (q) => q.body.xfam,
  mr_td: (q) => q.body.mrTd,
  mr_config_id: (q) => q.body.mrConfigId,
  mr_owner: (q) => q.body.mrOwner,
  mr_owner_config: (q) => q.body.mrOwnerConfig,
  rtmr0: (q) => q.body.rtmr[0],
  rtmr1: (q) => q.body.rtmr[1],
  rtmr2: (q) => q.body.rtmr[2],
  rtmr3: (q) => q.body.rtmr[3],
  report_data: (q) => q.body.reportData,
  tee_tcb_svn_2: (q) => q.body.teeTcbSvn2,
  mr_service_td: (q) => q.body.mrServiceTd,
};

for (const rel of QUOTE_SAMPLES) {
  void t.test(`parses ${rel} as facts.json records it`, (t) => {
    const f = quoteFacts(rel);
    const bytes = readSample(rel);
    t.equal(bytes.length, f.size);
    const q = parseTdxQuote(bytes);
    t.equal(q.header.version, f.quote_version);
    t.equal(q.header.attestationKeyType, f.header.att_key_type);
    t.equal(q.header.teeType.toString(16).padStart(8, '0'), f.tee_type_hex);
    t.equal(toHex(q.header.reserved), f.header.reserved_0x08_0x0c_hex);
    t.equal(toHex(q.header.qeVendorId), f.header.qe_vendor_id);
    t.equal(toHex(q.header.userData), f.header.user_data);
    t.equal(q.bodyType ?? null, f.body_type);
    t.equal(q.body.layout === 3 ? 648 : 584, f.body_size);
    for (const [name, want] of Object.entries(f.td_report_body)) {
      const get = BODY_FIELDS[name];
      t.ok(get, `the test knows field ${name}`);
      t.equal(toHex(get!(q) ?? new Uint8Array()), want, name);
    }
    if (!('tee_tcb_svn_2' in f.td_report_body)) t.equal(q.body.teeTcbSvn2, undefined, 'no TDX 1.5 fields in a 1.0 body');
    t.same([0, q.signedBytes.length], f.signed_range);
    t.equal(q.end, f.quote_end_offset);
    t.equal(q.end - q.signedBytes.length - 4, f.signature_data_len);
    t.equal(q.trailingBytes, f.trailing_bytes_after_signature_data);
    const s = q.signatureData;
    t.equal(toHex(s.signature), f.quote_signature_rs);
    t.equal(toHex(s.attestationKey), f.attestation_public_key_xy);
    t.equal(toHex(s.qeReport.cpuSvn), f.qe_report.cpu_svn);
    t.equal(toHex(s.qeReport.miscSelectBytes), f.qe_report.misc_select);
    t.equal(toHex(s.qeReport.attributes), f.qe_report.attributes);
    t.equal(toHex(s.qeReport.mrEnclave), f.qe_report.mr_enclave);
    t.equal(toHex(s.qeReport.mrSigner), f.qe_report.mr_signer);
    t.equal(s.qeReport.isvProdId, f.qe_report.isv_prod_id);
    t.equal(s.qeReport.isvSvn, f.qe_report.isv_svn);
    t.equal(toHex(s.qeReport.reportData), f.qe_report.report_data);
    t.equal(toHex(s.qeReportSignature), f.qe_report_signature_rs);
    t.equal(toHex(s.qeAuthData), f.qe_auth_data);
    t.equal(s.pckChainPem.length, f.inner_certification_data_size);
    t.equal(s.pckChainPem[s.pckChainPem.length - 1] === 0, f.pck_chain_pem_ends_with_nul);
    t.end();
  });
}

/** A copy of the v4 sample with `patch` applied at little-endian offsets. */
function patched(patch: (view: DataView, bytes: Uint8Array) => void, rel = 'tdx/quote-v4-trustee-q4.dat'): Uint8Array {
  const b = new Uint8Array(readSample(rel));
  patch(new DataView(b.buffer, b.byteOffset, b.byteLength), b);
  return b;
}

void t.test('refuses malformed quotes with a structured error naming the field', (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty input', new Uint8Array(0), /version/],
    ['version 3', patched((v) => v.setUint16(0, 3, true)), /unsupported quote version 3/],
    ['key type 3 (ECDSA-384)', patched((v) => v.setUint16(2, 3, true)), /attestation key type.*not 2/],
    ['SGX TEE type', patched((v) => v.setUint32(4, 0, true)), /TEE type.*not 0x00000081/],
    ['truncated body', readSample('tdx/quote-v4-trustee-q4.dat').subarray(0, 300), /TD report body/],
    ['signature length past the end', patched((v) => v.setUint32(0x278, 0xffffffff, true)), /signature data.*needs 4294967295 bytes/],
    ['signature length one short', patched((v) => v.setUint32(0x278, 4299, true)), /certification data/],
    ['certification data type 5', patched((v) => v.setUint16(0x27c + 128, 5, true)), /certification data type.*not 6/],
    ['certification size too large', patched((v) => v.setUint32(0x27c + 130, 0x7fffffff, true)), /certification data.*needs/],
    ['QE auth data size too large', patched((v) => v.setUint16(0x27c + 134 + 448, 0xffff, true)), /QE authentication data|inner/],
    ['inner type 4', patched((v) => v.setUint16(0x27c + 134 + 450 + 32, 4, true)), /inner certification data type.*not 5/],
    ['inner size short', patched((v) => v.setUint32(0x27c + 134 + 452 + 32, 100, true)), /unexplained bytes/],
    ['v5 SGX body', patched((v) => v.setUint16(0x30, 1, true), 'tdx/quote-v5-gtg-sample.dat'), /body type.*not a TD report body/],
    ['v5 size disagrees with type', patched((v) => v.setUint32(0x32, 584, true), 'tdx/quote-v5-gtg-sample.dat'), /body size.*does not match/],
  ];
  for (const [name, bytes, re] of cases) {
    try {
      parseTdxQuote(bytes);
      t.fail(`${name}: parsed`);
    } catch (err) {
      t.ok(err instanceof TdxQuoteParseError, `${name}: structured error`);
      t.match((err as Error).message, re, name);
      t.equal((err as TdxQuoteParseError).code, 'CCMESH_ERR_ATTEST_PARSE');
    }
  }
  t.end();
});

void t.test('a v5 quote with a TDX 1.0 body (type 2) parses with the 1.0 layout', (t) => {
  // Re-frame the v4 sample as v5 type 2: header, type, size, body, then the same signature data.
  const v4 = readSample('tdx/quote-v4-trustee-q4.dat');
  const v5 = new Uint8Array(v4.length + 6);
  v5.set(v4.subarray(0, 48));
  new DataView(v5.buffer).setUint16(0, 5, true);
  new DataView(v5.buffer).setUint16(48, 2, true);
  new DataView(v5.buffer).setUint32(50, 584, true);
  v5.set(v4.subarray(48), 54);
  const q = parseTdxQuote(v5);
  t.equal(q.bodyType, 2);
  t.equal(q.body.layout, 2);
  t.equal(q.signedBytes.length, 48 + 6 + 584);
  t.equal(toHex(q.body.mrTd), toHex(parseTdxQuote(v4).body.mrTd));
  t.end();
});

/** True when parsing returns a quote bounded by the input or throws TdxQuoteParseError. */
function parsesSafely(bytes: Uint8Array): boolean {
  try {
    const q = parseTdxQuote(bytes);
    return q.end + q.trailingBytes === bytes.length && q.signedBytes.length <= q.end;
  } catch (err) {
    return err instanceof TdxQuoteParseError;
  }
}

void t.test('every truncation of every sample gives a structured error, never a crash', (t) => {
  for (const rel of QUOTE_SAMPLES) {
    const bytes = readSample(rel);
    const end = quoteFacts(rel).quote_end_offset;
    let structured = 0;
    for (let n = 0; n < end; n++) if (parsesSafely(bytes.subarray(0, n))) structured++;
    t.equal(structured, end, `${rel}: all ${end} prefixes`);
  }
  t.end();
});

void t.test('property: random bytes never crash the parser', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), parsesSafely), { numRuns: 300 });
  // Random bytes behind a valid v4/v5 header reach the length fields.
  const header = readSample('tdx/quote-v5-gtg-sample.dat').subarray(0, 48);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (tail) => parsesSafely(Uint8Array.from([...header, ...tail]))),
    { numRuns: 300 },
  );
  t.end();
});

void t.test('property: mutated real quotes parse or fail structurally', (t) => {
  const samples = QUOTE_SAMPLES.map((rel) => readSample(rel));
  fc.assert(
    fc.property(
      fc.nat({ max: samples.length - 1 }),
      fc.array(fc.tuple(fc.nat({ max: 5100 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (which, edits) => {
        const b = new Uint8Array(samples[which]!);
        for (const [pos, val] of edits) if (pos < b.length) b[pos] = val;
        return parsesSafely(b);
      },
    ),
    { numRuns: 300 },
  );
  t.end();
});
