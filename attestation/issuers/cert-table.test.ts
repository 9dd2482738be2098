import fc from 'fast-check';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { viewOf } from '../../lib/bytes.js';
import { ErrorCode } from '../../lib/errors.js';
import { SnpParseError } from '../snp/parse-error.js';
import { CERT_TABLE_ENTRY_SIZE, CERT_TABLE_MAX_ENTRIES, encodeCertTable, parseCertTable, readCertTableEntries, SNP_CERT_GUIDS } from './cert-table.js';
import type { SnpCertificates } from './evidence.js';
import { milanCertificates } from '../../test/support/attestation/issuers.js';

const UNKNOWN_GUID = '01234567-89ab-cdef-0123-456789abcdef';

/** Builds a raw table from explicit entries (no consistency), for the hostile cases. */
function rawTable(entries: readonly { guid: string; offset: number; length: number }[], totalLength: number, terminate = true): Uint8Array {
  const out = new Uint8Array(totalLength);
  const dv = viewOf(out);
  entries.forEach((e, i) => {
    const at = i * CERT_TABLE_ENTRY_SIZE;
    out.set(Buffer.from(e.guid.replaceAll('-', ''), 'hex'), at);
    dv.setUint32(at + 16, e.offset, true);
    dv.setUint32(at + 20, e.length, true);
  });
  if (!terminate) out.fill(0xee, entries.length * CERT_TABLE_ENTRY_SIZE);
  return out;
}

void t.test('GUID bytes are stored in canonical-string order', (t) => {
  const blob = encodeCertTable({ vcek: new Uint8Array([1, 2, 3]) });
  t.equal(Buffer.from(blob.subarray(0, 16)).toString('hex'), '63da758de6644564adc5f4b93be8accd');
  t.same(readCertTableEntries(blob), [{ guid: SNP_CERT_GUIDS.vcek, offset: 48, length: 3 }]);
  t.end();
});

void t.test('real Milan VCEK/ASK/ARK round-trip, with an unknown entry ignored', (t) => {
  const certs = milanCertificates();
  const blob = encodeCertTable(certs, [{ guid: UNKNOWN_GUID, data: new Uint8Array([9, 9, 9]) }]);
  const parsed = parseCertTable(blob);
  t.same(Object.keys(parsed).sort(), ['ark', 'ask', 'vcek']);
  t.same(parsed.vcek, certs.vcek);
  t.same(parsed.ask, certs.ask);
  t.same(parsed.ark, certs.ark);
  t.equal(readCertTableEntries(blob).length, 4, 'the unknown entry is read and bounds-checked');
  // Copies, not views: the host's buffer may be reused.
  blob.fill(0);
  t.equal(parsed.vcek?.[0], 0x30);
  t.end();
});

void t.test('empty and all-zero blobs are empty tables', (t) => {
  t.same(parseCertTable(new Uint8Array(0)), {});
  t.same(parseCertTable(new Uint8Array(4096)), {}, 'a zeroed certs buffer: the host supplied nothing');
  t.end();
});

void t.test('hostile tables are refused with SnpParseError', (t) => {
  const vcek = SNP_CERT_GUIDS.vcek;
  const cases: [string, Uint8Array, RegExp][] = [
    ['no terminator', rawTable([{ guid: vcek, offset: 24, length: 0 }], 24, false), /no all-zero terminator/],
    ['truncated entry', new Uint8Array(10).fill(1), /no all-zero terminator/],
    ['offset past the end', rawTable([{ guid: vcek, offset: 100, length: 1 }], 100), /past the 100-byte blob/],
    ['length past the end', rawTable([{ guid: vcek, offset: 48, length: 53 }], 100), /past the 100-byte blob/],
    ['u32 overflow', rawTable([{ guid: vcek, offset: 0xffffffff, length: 0xffffffff }], 100), /past the/],
    ['overlapping the table', rawTable([{ guid: vcek, offset: 8, length: 40 }], 100), /overlaps the 48-byte table/],
    ['unknown GUID out of bounds', rawTable([{ guid: UNKNOWN_GUID, offset: 90, length: 20 }], 100), /past the 100-byte blob/],
    ['duplicate VCEK', rawTable([{ guid: vcek, offset: 72, length: 4 }, { guid: vcek, offset: 76, length: 4 }], 100), /VCEK GUID .* more than once/],
    ['empty ARK', rawTable([{ guid: SNP_CERT_GUIDS.ark, offset: 48, length: 0 }], 100), /ARK entry is empty/],
    ['null GUID, non-zero fields', rawTable([{ guid: '00000000-0000-0000-0000-000000000000', offset: 48, length: 1 }], 100), /null GUID/],
  ];
  for (const [name, blob, re] of cases) {
    t.throws(() => parseCertTable(blob), { name: 'SnpParseError', code: ErrorCode.ATTEST_PARSE, message: re }, name);
  }
  const many = rawTable(
    Array.from({ length: CERT_TABLE_MAX_ENTRIES + 1 }, () => ({ guid: UNKNOWN_GUID, offset: 0, length: 0 })),
    (CERT_TABLE_MAX_ENTRIES + 2) * CERT_TABLE_ENTRY_SIZE,
  );
  t.throws(() => parseCertTable(many), /more than 64 entries/);
  t.end();
});

void t.test('duplicate unknown GUIDs are tolerated', (t) => {
  const blob = encodeCertTable({ ark: new Uint8Array([7]) }, [
    { guid: UNKNOWN_GUID, data: new Uint8Array([1]) },
    { guid: UNKNOWN_GUID, data: new Uint8Array([2]) },
  ]);
  t.same(parseCertTable(blob), { ark: new Uint8Array([7]) });
  t.end();
});

const certBytes = fc.uint8Array({ minLength: 1, maxLength: 64 });
const certsArb: fc.Arbitrary<SnpCertificates> = fc.record({ vcek: certBytes, vlek: certBytes, ask: certBytes, ark: certBytes }, { requiredKeys: [] });
const extraArb = fc.array(fc.record({ guid: fc.uuid().filter((g) => !(Object.values(SNP_CERT_GUIDS) as string[]).includes(g)), data: fc.uint8Array({ maxLength: 32 }) }), { maxLength: 4 });

void t.test('property: encode → parse gives back the certificates', (t) => {
  fc.assert(
    fc.property(certsArb, extraArb, (certs, extra) => {
      return isDeepStrictEqual(parseCertTable(encodeCertTable(certs, extra)), { ...certs }); // fc.record objects have no prototype
    }),
    { numRuns: 200 },
  );
  t.end();
});

/** Calls `fn`; anything but SnpParseError fails the property. */
function onlyParseErrors(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof SnpParseError)) throw err;
  }
  return true;
}

void t.test('property: random bytes give certificates or SnpParseError, never a crash', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => onlyParseErrors(() => parseCertTable(b))), { numRuns: 500 });
  // Plausible tables with mutated entries reach the bounds checks rather than failing on the terminator.
  const valid = encodeCertTable(milanCertificates());
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: 4 * CERT_TABLE_ENTRY_SIZE - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
      const b = new Uint8Array(valid);
      for (const [i, v] of edits) b[i] = v;
      return onlyParseErrors(() => parseCertTable(b));
    }),
    { numRuns: 500 },
  );
  t.end();
});
