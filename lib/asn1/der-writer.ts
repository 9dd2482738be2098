/**
 * A small DER writer, the counterpart of der.ts.
 *
 * It exists so hot paths (leaf issuance) can emit fixed-profile structures without a schema library. Every function
 * returns one complete TLV; constructed values are built from already-encoded children, so composition is plain
 * function nesting. Inputs come from our own code, not from peers: a value DER cannot represent is a bug and throws
 * RangeError or TypeError rather than being coerced.
 */
import { Tag } from './der.js';

/** Context-specific class bit of an identifier octet. */
const CONTEXT = 0x80;
/** Constructed bit of an identifier octet. */
const CONSTRUCTED = 0x20;
/** Largest tag number that fits a single identifier octet (der.ts reads no other form). */
const MAX_LOW_TAG = 30;
/** Largest content length written: four length octets, the most der.ts accepts. */
export const MAX_DER_LENGTH = 0xffff_ffff;

/** The length octets of a `length`-byte value: short form below 128, otherwise minimal long form. */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_DER_LENGTH) throw new RangeError(`DER length ${length} is out of range`);
  if (length < 0x80) return Buffer.of(length);
  if (length <= 0xff) return Buffer.of(0x81, length);
  if (length <= 0xffff) return Buffer.of(0x82, length >>> 8, length & 0xff);
  if (length <= 0xff_ffff) return Buffer.of(0x83, length >>> 16, (length >>> 8) & 0xff, length & 0xff);
  return Buffer.of(0x84, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
}

/** One TLV with a single-octet identifier `tag` and contents `value`. */
export function encodeTlv(tag: number, value: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) throw new RangeError(`DER tag 0x${tag.toString(16)} is not a single-octet tag`);
  const len = encodeLength(value.length);
  const out = Buffer.allocUnsafe(1 + len.length + value.length);
  out[0] = tag;
  len.copy(out, 1);
  out.set(value, 1 + len.length);
  return out;
}

/** A constructed TLV whose contents are the concatenation of `parts` (each already a complete TLV). */
export function encodeConstructed(tag: number, parts: readonly Uint8Array[]): Buffer {
  if ((tag & CONSTRUCTED) === 0) throw new RangeError(`DER tag 0x${tag.toString(16)} is not constructed`);
  return encodeTlv(tag, parts.length === 1 ? parts[0]! : Buffer.concat(parts));
}

/** SEQUENCE of already-encoded elements, in the given order. */
export function encodeSequence(...parts: readonly Uint8Array[]): Buffer {
  return encodeConstructed(Tag.SEQUENCE, parts);
}

/**
 * SET or SET OF already-encoded elements in DER canonical order: ascending by encoding (X.690 §11.6). For a SET of
 * distinct types that is tag order, as §10.3 requires, because the first octets differ.
 */
export function encodeSet(...parts: readonly Uint8Array[]): Buffer {
  const sorted = [...parts].sort((a, b) => Buffer.compare(a, b));
  return encodeConstructed(Tag.SET, sorted);
}

/** `[n] EXPLICIT`: a constructed context-specific TLV wrapping one complete TLV. */
export function encodeExplicit(tagNumber: number, inner: Uint8Array): Buffer {
  return encodeTlv(contextTag(tagNumber, true), inner);
}

/**
 * `[n] IMPLICIT`: `encoded` (one complete TLV) with its identifier replaced by context tag n, keeping its
 * primitive/constructed form, as X.690 §8.14.3 requires.
 */
export function encodeImplicit(tagNumber: number, encoded: Uint8Array): Buffer {
  if (encoded.length < 2) throw new RangeError('DER implicit tagging needs a complete TLV');
  const out = Buffer.from(encoded);
  out[0] = contextTag(tagNumber, (encoded[0]! & CONSTRUCTED) !== 0);
  return out;
}

/** Context-specific primitive `[n] IMPLICIT` contents, e.g. a GeneralName's dNSName or iPAddress. */
export function encodeContextPrimitive(tagNumber: number, value: Uint8Array): Buffer {
  return encodeTlv(contextTag(tagNumber, false), value);
}

function contextTag(tagNumber: number, constructed: boolean): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > MAX_LOW_TAG) throw new RangeError(`DER context tag [${tagNumber}] is not 0-${MAX_LOW_TAG}`);
  return CONTEXT | (constructed ? CONSTRUCTED : 0) | tagNumber;
}

/**
 * INTEGER from a safe JS integer (two's complement, minimal) or from unsigned big-endian magnitude bytes (leading
 * zeros dropped, a 0x00 added when the top bit is set so the value stays non-negative).
 */
export function encodeInteger(value: number | bigint | Uint8Array): Buffer {
  if (value instanceof Uint8Array) return encodeTlv(Tag.INTEGER, unsignedContents(value));
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`DER INTEGER ${value} is not a safe integer`);
  return encodeTlv(Tag.INTEGER, twosComplement(BigInt(value)));
}

function unsignedContents(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return Buffer.of(0);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  if ((body[0]! & 0x80) === 0) return body;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = 0;
  out.set(body, 1);
  return out;
}

function twosComplement(v: bigint): Uint8Array {
  // Fewest octets whose signed range holds v: grow until the top bit of the first octet matches the sign.
  const bytes: number[] = [];
  let x = v;
  for (;;) {
    const octet = Number(x & 0xffn);
    bytes.unshift(octet);
    x >>= 8n;
    const signBit = (octet & 0x80) !== 0;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(bytes);
}

/** BOOLEAN: DER requires 0xff for TRUE (X.690 §11.1). */
export function encodeBoolean(value: boolean): Buffer {
  return Buffer.of(Tag.BOOLEAN, 1, value ? 0xff : 0x00);
}

/** NULL. */
export function encodeNull(): Buffer {
  return Buffer.of(Tag.NULL, 0);
}

/** OBJECT IDENTIFIER from dotted form, e.g. `2.5.29.17`. */
export function encodeOid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(dotted)) throw new TypeError(`${JSON.stringify(dotted)} is not a dotted OBJECT IDENTIFIER`);
  const arcs = dotted.split('.').map((s) => BigInt(s));
  const first = arcs[0]!;
  const second = arcs[1]!;
  // X.660: under arcs 0 and 1 the second arc is at most 39, so the first subidentifier 40*a+b stays unambiguous.
  if (first < 2n && second > 39n) throw new TypeError(`${dotted}: the second arc under ${first} must be at most 39`);
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const base128: number[] = [Number(arc & 0x7fn)];
    for (let x = arc >> 7n; x > 0n; x >>= 7n) base128.unshift(Number(x & 0x7fn) | 0x80);
    out.push(...base128);
  }
  return encodeTlv(Tag.OID, Uint8Array.from(out));
}

/** OCTET STRING. */
export function encodeOctetString(value: Uint8Array): Buffer {
  return encodeTlv(Tag.OCTET_STRING, value);
}

/** BIT STRING of `bytes` whose last `unusedBits` bits are padding; DER requires that padding to be zero. */
export function encodeBitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) throw new RangeError(`BIT STRING unused bits ${unusedBits} is not 0-7`);
  if (bytes.length === 0 && unusedBits !== 0) throw new RangeError('an empty BIT STRING has no unused bits');
  if (unusedBits > 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) throw new RangeError('BIT STRING padding bits must be zero in DER');
  const contents = Buffer.allocUnsafe(bytes.length + 1);
  contents[0] = unusedBits;
  contents.set(bytes, 1);
  return encodeTlv(Tag.BIT_STRING, contents);
}

/** IA5String (ASCII), as dNSName and uniformResourceIdentifier use. */
export function encodeIa5String(text: string): Buffer {
  // eslint-disable-next-line no-control-regex -- IA5 is exactly the 7-bit range, control characters included.
  if (!/^[\x00-\x7f]*$/.test(text)) throw new TypeError('IA5String takes 7-bit ASCII only');
  return encodeTlv(Tag.IA5_STRING, Buffer.from(text, 'latin1'));
}

/** PrintableString (X.680 §41.4 repertoire). */
export function encodePrintableString(text: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) throw new TypeError(`${JSON.stringify(text)} is outside the PrintableString repertoire`);
  return encodeTlv(Tag.PRINTABLE_STRING, Buffer.from(text, 'latin1'));
}

/** UTF8String. */
export function encodeUtf8String(text: string): Buffer {
  return encodeTlv(Tag.UTF8_STRING, Buffer.from(text, 'utf8'));
}

/** UTCTime `YYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.1); only years 1950-2049 are representable. */
export function encodeUtcTime(date: Date): Buffer {
  const year = wholeSecondYear(date);
  if (year < 1950 || year > 2049) throw new RangeError(`UTCTime cannot represent year ${year}`);
  return encodeTlv(Tag.UTC_TIME, Buffer.from(`${pad(year % 100, 2)}${timeOfYear(date)}Z`, 'latin1'));
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ` without fractional seconds (RFC 5280 §4.1.2.5.2). */
export function encodeGeneralizedTime(date: Date): Buffer {
  const year = wholeSecondYear(date);
  if (year < 0 || year > 9999) throw new RangeError(`GeneralizedTime cannot represent year ${year}`);
  return encodeTlv(Tag.GENERALIZED_TIME, Buffer.from(`${pad(year, 4)}${timeOfYear(date)}Z`, 'latin1'));
}

/**
 * Time as RFC 5280 §4.1.2.5 mandates for certificate validity: UTCTime through 2049, GeneralizedTime from 2050
 * (and before 1950, which UTCTime cannot express).
 */
export function encodeTime(date: Date): Buffer {
  const year = wholeSecondYear(date);
  return year >= 1950 && year <= 2049 ? encodeUtcTime(date) : encodeGeneralizedTime(date);
}

function wholeSecondYear(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('cannot encode an invalid Date');
  // RFC 5280 forbids fractional seconds; silently truncating would make the encoding disagree with the caller.
  if (ms % 1000 !== 0) throw new RangeError(`${date.toISOString()} is not a whole second`);
  return date.getUTCFullYear();
}

function timeOfYear(d: Date): string {
  return pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2) + pad(d.getUTCHours(), 2) + pad(d.getUTCMinutes(), 2) + pad(d.getUTCSeconds(), 2);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
