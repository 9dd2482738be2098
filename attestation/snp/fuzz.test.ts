/**
 * Property tests: hostile bytes into the report parser, the VEK/extension parser and the whole verifier always
 * give a structured result or an SnpParseError — never another exception, never a hang — and any change to a
 * genuine report, VEK or chain is rejected.
 */
import fc from 'fast-check';
import t from 'tap';
import { bytesEqual } from '../../lib/bytes.js';
import { readSample } from '../../test/fixtures.js';
import type { VerifyResult } from '../result.js';
import { SnpParseError } from './parse-error.js';
import { parseSnpReferenceValues } from './reference.js';
import { parseSnpReport, SNP_REPORT_SIZE } from './report.js';
import { parseVek, parseVekExtensions } from './vek.js';
import { createSnpVerifier, verifySnp } from './verify.js';

const REPORT = readSample('snp/gsg-milan-v2.report.bin');
const VEK = readSample('snp/gsg-milan-v2.vcek.der');
const CHAIN = readSample('snp/ask_ark_milan.pem');
const AT = new Date('2024-01-01T00:00:00Z');
const RUNS = 300;

/** Calls `fn`; any exception other than SnpParseError fails the property. */
function onlyParseErrors(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof SnpParseError)) throw err;
  }
  return true;
}

function structured(r: VerifyResult<unknown>): boolean {
  return typeof r.ok === 'boolean' && Array.isArray(r.reasons) && r.reasons.every((x) => typeof x === 'string') && (r.ok ? r.reasons.length === 0 && r.claims !== undefined : r.reasons.length > 0);
}

/** Up to 8 byte edits (overwrite) at random positions of `base`. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
    const b = new Uint8Array(base);
    for (const [i, v] of edits) b[i] = v;
    return b;
  });
}

/** Truncations and extensions of `base`. */
function resized(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.nat({ max: base.length - 1 }).map((n) => base.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => new Uint8Array([...base, ...tail])),
  );
}

const cached = createSnpVerifier();

void t.test('parseSnpReport: random bytes of any length, and random 1184-byte reports of each version', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), (b) => onlyParseErrors(() => parseSnpReport(b))), { numRuns: RUNS });
  const full = fc.tuple(fc.uint8Array({ minLength: SNP_REPORT_SIZE, maxLength: SNP_REPORT_SIZE }), fc.constantFrom(2, 3, 4, 5), fc.boolean());
  fc.assert(
    fc.property(full, ([b, version, cleanTail]) => {
      new DataView(b.buffer, b.byteOffset).setUint32(0, version, true);
      if (cleanTail) b.fill(0, 0x2a0 + 48, 0x2a0 + 72).fill(0, 0x2e8 + 48, SNP_REPORT_SIZE);
      return onlyParseErrors(() => {
        const r = parseSnpReport(b);
        if (r.version !== version || r.signatureR.length !== 48 || r.signatureS.length !== 48) throw new Error('inconsistent parse');
        if ((version >= 3) !== (r.cpuid !== undefined) || (version >= 5) !== (r.launchMitVector !== undefined)) throw new Error('version gating');
      });
    }),
    { numRuns: RUNS },
  );
  t.pass('no exception but SnpParseError');
  t.end();
});

void t.test('verifySnp: any edit or resize of the genuine report is rejected, with a structured result', (t) => {
  fc.assert(
    fc.property(fc.oneof(mutated(REPORT), resized(REPORT)), (report) => {
      const r = cached.verify({ report, vek: VEK, chain: CHAIN, at: AT });
      return structured(r) && (bytesEqual(report, REPORT) ? r.ok : !r.ok);
    }),
    { numRuns: RUNS },
  );
  t.pass('every changed report was refused');
  t.end();
});

void t.test('parseVek / parseVekExtensions: random bytes and edited VEKs give only SnpParseError', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => onlyParseErrors(() => parseVek(b)) && onlyParseErrors(() => parseVekExtensions(b))), { numRuns: RUNS });
  fc.assert(
    fc.property(fc.oneof(mutated(VEK), resized(VEK)), (b) => onlyParseErrors(() => parseVek(b)) && onlyParseErrors(() => parseVekExtensions(b))),
    { numRuns: RUNS },
  );
  // DER-shaped noise reaches deeper than uniform bytes: a SEQUENCE header around random content.
  const derish = fc.uint8Array({ maxLength: 120 }).map((body) => new Uint8Array([0x30, body.length, ...body]));
  fc.assert(fc.property(derish, (b) => onlyParseErrors(() => parseVekExtensions(b))), { numRuns: RUNS });
  t.pass('no exception but SnpParseError');
  t.end();
});

void t.test('verifySnp: edited VEKs and chains are rejected, random collateral never throws', (t) => {
  fc.assert(
    fc.property(mutated(VEK), (vek) => {
      const r = verifySnp({ report: REPORT, vek, chain: CHAIN, at: AT });
      return structured(r) && (bytesEqual(vek, VEK) ? r.ok : !r.ok);
    }),
    { numRuns: 150 },
  );
  const chainText = Buffer.from(CHAIN).toString('latin1');
  const base64Edit = fc.tuple(fc.nat({ max: chainText.length - 1 }), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'));
  fc.assert(
    fc.property(base64Edit, ([i, ch]) => {
      const chain = new Uint8Array(Buffer.from(chainText.slice(0, i) + ch + chainText.slice(i + 1), 'latin1'));
      const r = cached.verify({ report: REPORT, vek: VEK, chain, at: AT });
      return structured(r) && (bytesEqual(chain, CHAIN) ? r.ok : !r.ok || isCosmetic(chainText, i) || sameDer(chainText, Buffer.from(chain).toString('latin1')));
    }),
    { numRuns: 150 },
  );
  const junk = fc.record({ vek: fc.uint8Array({ maxLength: 300 }), chain: fc.uint8Array({ maxLength: 300 }), crl: fc.uint8Array({ maxLength: 200 }), ms: fc.integer({ min: -1e15, max: 1e15 }) });
  fc.assert(
    fc.property(junk, ({ vek, chain, crl, ms }) => structured(verifySnp({ report: REPORT, vek, chain, at: new Date(ms), crls: [crl] })) && structured(cached.verify({ report: REPORT, vek, chain, at: new Date(ms) }))),
    { numRuns: RUNS },
  );
  t.pass('structured results only');
  t.end();
});

/** True when position `i` of the PEM text is outside base64 bodies (header lines, where an edit changes nothing). */
/**
 * True when two PEM texts decode to the same bytes: an edit of the unused low bits of the last base64 character
 * before `=` padding (e.g. 'Q' → 'R') changes the text but not the certificate.
 */
function sameDer(a: string, b: string): boolean {
  // Block by block: Node's base64 decoder stops at the first '=', so concatenated bodies can't be decoded at once.
  const der = (text: string): string[] => [...text.matchAll(/-----BEGIN [^-]*-----([^-]*)-----END [^-]*-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s/g, ''), 'base64').toString('hex'));
  const [x, y] = [der(a), der(b)];
  return x.length === y.length && x.every((block, i) => block === y[i]);
}

function isCosmetic(text: string, i: number): boolean {
  const lineStart = text.lastIndexOf('\n', i - 1) + 1;
  return text.startsWith('-----', lineStart) || text[i] === '\n' || text[i] === '=';
}

void t.test('parseSnpReferenceValues: any JSON value gives values or issues, never an exception', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('measurements', 'minimumTcb', 'vmpl', 'allowedSigners', 'x'), fc.jsonValue())), (json) => {
      const r = parseSnpReferenceValues(json, 'snp');
      return (r.values === undefined) === (r.issues.length > 0);
    }),
    { numRuns: RUNS },
  );
  t.pass('structured');
  t.end();
});
