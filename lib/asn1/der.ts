/**
 * A small, bounds-checked DER reader.
 *
 * It exists because attestation evidence carries vendor-specific ASN.1 (AMD VCEK extensions, Intel PCK SGX
 * extensions, CRLs signed with RSASSA-PSS) that must be read from untrusted bytes without ever throwing anything
 * but a {@link DerError}. Every length is checked against the enclosing buffer before it is used, so a hostile
 * length can neither read out of bounds nor allocate: the reader only ever hands out subarray views.
 */

/** Thrown for any malformed DER; callers turn it into a structured verification reason. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

/** Universal tag numbers used by ccmesh. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

/** One decoded TLV: `tag` is the full identifier octet, `value` a view of the contents, `raw` the whole TLV. */
export interface DerNode {
  readonly tag: number;
  readonly value: Uint8Array;
  readonly raw: Uint8Array;
}

/** Maximum nesting the helpers will follow; deeper input is refused rather than recursed into. */
export const MAX_DER_DEPTH = 32;

/** Reads the TLV at `offset` in `buf`; returns the node and the offset after it. */
export function readTlv(buf: Uint8Array, offset = 0): { node: DerNode; next: number } {
  if (offset >= buf.length) throw new DerError(`DER: expected a tag at offset ${offset}, found end of data`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`DER: multi-byte tag at offset ${offset} is not supported`);
  let p = offset + 1;
  if (p >= buf.length) throw new DerError(`DER: missing length at offset ${p}`);
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else if (first === 0x80) {
    throw new DerError(`DER: indefinite length at offset ${p - 1} is not DER`);
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new DerError(`DER: length of ${n} octets at offset ${p - 1} is too large`);
    if (p + n > buf.length) throw new DerError(`DER: truncated length at offset ${p}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
    if (len < 0x80 || (n > 1 && buf[p - n] === 0)) throw new DerError(`DER: non-minimal length encoding at offset ${p - n - 1}`);
  }
  const end = p + len;
  if (end > buf.length) throw new DerError(`DER: value of ${len} bytes at offset ${p} runs past the end (${buf.length} bytes)`);
  return { node: { tag, value: buf.subarray(p, end), raw: buf.subarray(offset, end) }, next: end };
}

/** Decodes exactly one TLV that must fill `buf` completely. */
export function readOne(buf: Uint8Array, expectTag?: number): DerNode {
  const { node, next } = readTlv(buf, 0);
  if (next !== buf.length) throw new DerError(`DER: ${buf.length - next} trailing bytes after the top-level element`);
  if (expectTag !== undefined) expectNodeTag(node, expectTag);
  return node;
}

/** Splits the contents of a constructed node into its children. */
export function children(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`DER: tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let p = 0;
  while (p < node.value.length) {
    const { node: child, next } = readTlv(node.value, p);
    out.push(child);
    p = next;
  }
  return out;
}

/** Throws unless `node` has the given tag. */
export function expectNodeTag(node: DerNode, tag: number): void {
  if (node.tag !== tag) {
    throw new DerError(`DER: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  }
}

/** Returns `list[i]` or throws a DerError naming what was missing. */
export function at(list: readonly DerNode[], i: number, what: string): DerNode {
  const n = list[i];
  if (n === undefined) throw new DerError(`DER: missing ${what} (element ${i})`);
  return n;
}

/** Decodes an OBJECT IDENTIFIER value to dotted form. */
export function decodeOid(node: DerNode): string {
  expectNodeTag(node, Tag.OID);
  const v = node.value;
  if (v.length === 0) throw new DerError('DER: empty OBJECT IDENTIFIER');
  if (v.length > 64) throw new DerError('DER: OBJECT IDENTIFIER longer than 64 bytes');
  const parts: number[] = [];
  let acc = 0;
  let started = false;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (!started && b === 0x80) throw new DerError('DER: non-minimal OBJECT IDENTIFIER arc');
    acc = acc * 128 + (b & 0x7f);
    started = true;
    if (acc > Number.MAX_SAFE_INTEGER / 128) throw new DerError('DER: OBJECT IDENTIFIER arc too large');
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        const first = acc < 40 ? 0 : acc < 80 ? 1 : 2;
        parts.push(first, acc - first * 40);
      } else {
        parts.push(acc);
      }
      acc = 0;
      started = false;
    }
  }
  if (started) throw new DerError('DER: truncated OBJECT IDENTIFIER');
  return parts.join('.');
}

/** Decodes a non-negative INTEGER (or ENUMERATED) that fits in a safe JS number. */
export function decodeSmallUint(node: DerNode): number {
  if (node.tag !== Tag.INTEGER && node.tag !== Tag.ENUMERATED) {
    throw new DerError(`DER: expected INTEGER, found tag 0x${node.tag.toString(16)}`);
  }
  const v = node.value;
  if (v.length === 0) throw new DerError('DER: empty INTEGER');
  if ((v[0]! & 0x80) !== 0) throw new DerError('DER: negative INTEGER where a non-negative one is required');
  if (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) throw new DerError('DER: non-minimal INTEGER');
  if (v.length > 7) throw new DerError('DER: INTEGER too large');
  let n = 0;
  for (const b of v) n = n * 256 + b;
  // Seven octets hold up to 2^56: above 2^53 the sum above has already rounded, so the value would be wrong.
  if (n > Number.MAX_SAFE_INTEGER) throw new DerError('DER: INTEGER too large (above 2^53 - 1)');
  return n;
}

/** Returns the INTEGER contents as an unsigned big-endian byte string without the sign padding. */
export function integerBytes(node: DerNode): Uint8Array {
  expectNodeTag(node, Tag.INTEGER);
  let v = node.value;
  if (v.length === 0) throw new DerError('DER: empty INTEGER');
  while (v.length > 1 && v[0] === 0) v = v.subarray(1);
  return v;
}

/** Decodes a string type (IA5, Printable, UTF8) as text. */
export function decodeString(node: DerNode): string {
  if (node.tag !== Tag.IA5_STRING && node.tag !== Tag.PRINTABLE_STRING && node.tag !== Tag.UTF8_STRING) {
    throw new DerError(`DER: expected a string, found tag 0x${node.tag.toString(16)}`);
  }
  return Buffer.from(node.value).toString(node.tag === Tag.UTF8_STRING ? 'utf8' : 'latin1');
}

/** Decodes a BOOLEAN. */
export function decodeBoolean(node: DerNode): boolean {
  expectNodeTag(node, Tag.BOOLEAN);
  if (node.value.length !== 1) throw new DerError('DER: BOOLEAN must be one byte');
  return node.value[0] !== 0;
}

/** Returns the bits of a BIT STRING with no unused bits (signatures, keys). */
export function bitStringBytes(node: DerNode): Uint8Array {
  expectNodeTag(node, Tag.BIT_STRING);
  if (node.value.length === 0 || node.value[0] !== 0) throw new DerError('DER: BIT STRING with unused bits where whole bytes are required');
  return node.value.subarray(1);
}

/** Decodes UTCTime or GeneralizedTime (the `Z` forms DER requires) to a Date. */
export function decodeTime(node: DerNode): Date {
  const s = Buffer.from(node.value).toString('latin1');
  let m: RegExpExecArray | null;
  if (node.tag === Tag.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) throw new DerError(`DER: malformed UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (node.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(s);
    if (!m) throw new DerError(`DER: malformed GeneralizedTime ${JSON.stringify(s)}`);
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError(`DER: expected a time, found tag 0x${node.tag.toString(16)}`);
}
