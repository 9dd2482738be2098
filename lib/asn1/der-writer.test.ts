/**
 * The DER writer: known encodings from X.690 / RFC 5280, refusals of unrepresentable input, and property round
 * trips through the der.ts reader (which also re-checks minimal lengths and integers).
 */
import t from 'tap';
import fc from 'fast-check';
import { children, decodeBoolean, decodeOid, decodeSmallUint, decodeString, decodeTime, integerBytes, readOne, Tag, bitStringBytes } from './der.js';
import {
  encodeBitString, encodeBoolean, encodeContextPrimitive, encodeExplicit, encodeGeneralizedTime, encodeIa5String, encodeImplicit, encodeInteger,
  encodeLength, encodeNull, encodeOctetString, encodeOid, encodePrintableString, encodeSequence, encodeSet, encodeTime, encodeTlv, encodeUtcTime,
  encodeUtf8String,
} from './der-writer.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

void t.test('known encodings', (t) => {
  const table: [string, Uint8Array, string][] = [
    ['INTEGER 0', encodeInteger(0), '020100'],
    ['INTEGER 127', encodeInteger(127), '02017f'],
    ['INTEGER 128', encodeInteger(128), '02020080'],
    ['INTEGER 256', encodeInteger(256), '02020100'],
    ['INTEGER -1', encodeInteger(-1), '0201ff'],
    ['INTEGER -128', encodeInteger(-128), '020180'],
    ['INTEGER -129', encodeInteger(-129), '0202ff7f'],
    ['INTEGER bytes 00 00 80', encodeInteger(Uint8Array.of(0, 0, 0x80)), '02020080'],
    ['INTEGER bytes 00 00', encodeInteger(Uint8Array.of(0, 0)), '020100'],
    ['INTEGER bytes empty', encodeInteger(new Uint8Array(0)), '020100'],
    ['INTEGER bigint 2^64', encodeInteger(2n ** 64n), '0209010000000000000000'],
    ['BOOLEAN true', encodeBoolean(true), '0101ff'],
    ['BOOLEAN false', encodeBoolean(false), '010100'],
    ['NULL', encodeNull(), '0500'],
    ['OID ecdsa-with-SHA256', encodeOid('1.2.840.10045.4.3.2'), '06082a8648ce3d040302'],
    ['OID SAN', encodeOid('2.5.29.17'), '0603551d11'],
    ['OID policy hash', encodeOid('1.3.6.1.4.1.59999.1.1'), '060a2b0601040183d45f0101'],
    ['OID 2.999.3 (first arc > 39 under 2)', encodeOid('2.999.3'), '0603883703'],
    ['BIT STRING keyUsage digitalSignature', encodeBitString(Uint8Array.of(0x80), 7), '03020780'],
    ['BIT STRING empty', encodeBitString(new Uint8Array(0)), '030100'],
    ['OCTET STRING', encodeOctetString(Uint8Array.of(1, 2)), '04020102'],
    ['SEQUENCE empty', encodeSequence(), '3000'],
    ['[0] EXPLICIT INTEGER 2', encodeExplicit(0, encodeInteger(2)), 'a003020102'],
    ['[2] IMPLICIT IA5String', encodeImplicit(2, encodeIa5String('a.b')), '8203612e62'],
    ['[0] IMPLICIT SEQUENCE keeps constructed', encodeImplicit(0, encodeSequence(encodeNull())), 'a0020500'],
    ['[7] primitive', encodeContextPrimitive(7, Uint8Array.of(10, 0, 0, 1)), '87040a000001'],
    ['UTCTime 2049', encodeTime(new Date(Date.UTC(2049, 11, 31, 23, 59, 59))), '170d3439313233313233353935395a'],
    ['GeneralizedTime 2050', encodeTime(new Date(Date.UTC(2050, 0, 1))), '180f32303530303130313030303030305a'],
    ['GeneralizedTime before 1950', encodeTime(new Date(Date.UTC(1949, 11, 31))), '180f31393439313233313030303030305a'],
    ['UTCTime 1950', encodeTime(new Date(Date.UTC(1950, 0, 1))), '170d3530303130313030303030305a'],
    ['PrintableString', encodePrintableString('ccmesh CA'), '130963636d657368204341'],
    ['UTF8String', encodeUtf8String('é'), '0c02c3a9'],
  ];
  for (const [name, got, want] of table) t.equal(hex(got), want, name);
  t.end();
});

void t.test('lengths use the short form below 128 and the minimal long form above', (t) => {
  const table: [number, string][] = [[0, '00'], [127, '7f'], [128, '8180'], [255, '81ff'], [256, '820100'], [65535, '82ffff'], [65536, '83010000'], [0x1000000, '8401000000'], [0xffffffff, '84ffffffff']];
  for (const [n, want] of table) t.equal(hex(encodeLength(n)), want, String(n));
  for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) t.throws(() => encodeLength(bad), RangeError, String(bad));
  for (const n of [127, 128, 255, 256, 65535, 65536, 70000]) {
    const tlv = encodeOctetString(new Uint8Array(n).fill(7));
    t.equal(readOne(tlv, Tag.OCTET_STRING).value.length, n, `der.ts reads back ${n} bytes`);
  }
  t.end();
});

void t.test('SET sorts its elements into DER order', (t) => {
  const set = encodeSet(encodeInteger(300), encodeBoolean(true), encodeInteger(2));
  t.equal(hex(set), '310a0101ff0201020202012c');
  t.end();
});

void t.test('refuses what DER cannot express instead of coercing it', (t) => {
  t.throws(() => encodeInteger(2 ** 53), RangeError);
  t.throws(() => encodeInteger(0.5), RangeError);
  for (const bad of ['', '1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b', '2.-1']) t.throws(() => encodeOid(bad), TypeError, bad);
  t.throws(() => encodeBitString(Uint8Array.of(0x81), 7), /padding/);
  t.throws(() => encodeBitString(Uint8Array.of(0), 8), RangeError);
  t.throws(() => encodeBitString(new Uint8Array(0), 1), RangeError);
  t.throws(() => encodeIa5String('é'), TypeError);
  t.throws(() => encodePrintableString('a*b'), TypeError);
  t.throws(() => encodeUtcTime(new Date(Date.UTC(2050, 0, 1))), RangeError);
  t.throws(() => encodeUtcTime(new Date(Date.UTC(1949, 0, 1))), RangeError);
  t.throws(() => encodeTime(new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 1))), /whole second/);
  t.throws(() => encodeTime(new Date(Number.NaN)), RangeError);
  t.throws(() => encodeGeneralizedTime(new Date(Date.UTC(10000, 0, 1))), RangeError);
  t.throws(() => encodeExplicit(31, encodeNull()), RangeError);
  t.throws(() => encodeTlv(0x1f, new Uint8Array(0)), RangeError);
  t.throws(() => encodeImplicit(0, Uint8Array.of(5)), RangeError);
  t.end();
});

const oidArb = fc
  .tuple(fc.constantFrom(0, 1, 2), fc.nat(), fc.array(fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 45n })), { maxLength: 6 }))
  .map(([a, b, rest]) => [a, a < 2 ? b % 40 : b, ...rest].join('.'))
  // der.ts refuses OIDs longer than 64 bytes and arcs from 2^46 up; stay inside what the reader accepts.
  .filter((s) => encodeOid(s).length <= 66);

void t.test('property: OIDs round-trip through der.ts', (t) => {
  fc.assert(fc.property(oidArb, (oid) => decodeOid(readOne(encodeOid(oid))) === oid), { numRuns: 2000 });
  t.end();
});

void t.test('property: integers round-trip through der.ts', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const got = integerBytes(readOne(encodeInteger(bytes)));
      const want = Buffer.from(bytes).toString('hex').replace(/^(00)+/, '') || '00';
      return hex(got) === want;
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.maxSafeNat(), (n) => decodeSmallUint(readOne(encodeInteger(n))) === n), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => {
      // Two's complement read back by hand: der.ts only decodes non-negative integers.
      const v = readOne(encodeInteger(n), Tag.INTEGER).value;
      const value = BigInt.asIntN(v.length * 8, BigInt(`0x${hex(v)}`));
      // Minimal: the first nine bits are not all equal (X.690 §8.3.2).
      const redundant = v.length > 1 && ((v[0] === 0 && (v[1]! & 0x80) === 0) || (v[0] === 0xff && (v[1]! & 0x80) !== 0));
      return value === BigInt(n) && !redundant;
    }),
    { numRuns: 2000 },
  );
  t.end();
});

void t.test('property: times round-trip through der.ts with the RFC 5280 choice of type', (t) => {
  // From year 100: der.ts decodes through Date.UTC, which maps years 0-99 to 1900-1999.
  const seconds = fc.integer({ min: Date.parse('0100-01-01T00:00:00Z') / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 });
  fc.assert(
    fc.property(seconds, (s) => {
      const d = new Date(s * 1000);
      const node = readOne(encodeTime(d));
      const year = d.getUTCFullYear();
      const wantTag = year >= 1950 && year <= 2049 ? Tag.UTC_TIME : Tag.GENERALIZED_TIME;
      return node.tag === wantTag && decodeTime(node).getTime() === d.getTime();
    }),
    { numRuns: 3000 },
  );
  t.end();
});

void t.test('property: nested structures round-trip through der.ts', (t) => {
  const leaf = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ kind: 'octets' as const, b })),
    fc.boolean().map((v) => ({ kind: 'bool' as const, v })),
    fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 200 }).map((s) => ({ kind: 'ia5' as const, s })),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(leaf, fc.integer({ min: 0, max: 30 })), { maxLength: 20 }), (items) => {
      const encoded = items.map(([it, n]) => {
        const inner = it.kind === 'octets' ? encodeOctetString(it.b) : it.kind === 'bool' ? encodeBoolean(it.v) : encodeIa5String(it.s);
        return encodeExplicit(n, inner);
      });
      const seq = readOne(encodeSequence(...encoded), Tag.SEQUENCE);
      const parts = children(seq);
      return parts.length === items.length && parts.every((p, i) => {
        const [it, n] = items[i]!;
        const [inner] = children(p);
        if (p.tag !== (0xa0 | n) || inner === undefined) return false;
        if (it.kind === 'octets') return hex(inner.value) === hex(it.b);
        if (it.kind === 'bool') return decodeBoolean(inner) === it.v;
        return decodeString(inner) === it.s;
      });
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 7 }), (bytes, unused) => {
      if (bytes.length === 0) unused = 0;
      const masked = Uint8Array.from(bytes);
      if (masked.length > 0) masked[masked.length - 1]! &= 0xff << unused;
      const node = readOne(encodeBitString(masked, unused), Tag.BIT_STRING);
      return node.value[0] === unused && (unused !== 0 || hex(bitStringBytes(node)) === hex(masked));
    }),
    { numRuns: 1000 },
  );
  t.end();
});
