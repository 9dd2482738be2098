/**
 * A pass over a request's protobuf wire format BEFORE protobufjs decodes it: tags and lengths only, no allocation,
 * checked against the field limits (`limits.ts`). Decoding costs far more than the bytes it reads when a message is
 * made of many tiny items (two million empty `policies` entries fit in 4 MiB, and protobufjs builds an object for
 * each); this pass refuses such a request in one linear scan, so no request can make the Coordinator do more work
 * than reading it. What it checks:
 *   - every known field is length-delimited (wire type 2, as every field of the requests is);
 *   - a singular field appears at most once, a repeated one at most `maxItems` times;
 *   - no field is longer than its limit (a string's limit in characters allows 3 UTF-8 bytes each);
 *   - nested messages are scanned the same way; at most 64 unknown fields per message, and no groups.
 * Minimums, presence and types are left to the decoder that follows (`decodeMessage`).
 */
import { describeRule, type FieldRule, REQUEST_LIMITS } from './limits.js';

/** Field number → field name, per request message (from the `.proto`'s descriptors). */
export type FieldNumbers = Readonly<Record<string, ReadonlyMap<number, string>>>;

/** Most unknown fields one message may carry (a newer client's additions; skipped, but not without end). */
export const MAX_UNKNOWN_FIELDS = 64;

/** Widest varint of a tag or length: 5 bytes, as protobufjs reads them (SECURITY: see Cursor.varint). */
const UINT32_WIDTH = 5;

const MALFORMED_LENGTH = 'malformed length (expected a varint of at most 5 bytes)';

/** UTF-8 bytes per UTF-16 code unit at most (a string limit counts code units). */
const UTF8_PER_CHAR = 3;

class Cursor {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }

  /**
   * A varint of at most `width` bytes whose value fits a double exactly; undefined when malformed. Tags and lengths
   * are read with width 5, as protobufjs reads them (`uint32`): it takes 5 bytes and, when the fifth says "more",
   * skips 5 further bytes unread, so a wider varint would make this scan and the decoder see different messages.
   */
  varint(width: 5 | 10): number | undefined {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < width; i++) {
      if (this.pos >= this.end) return undefined;
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value <= Number.MAX_SAFE_INTEGER ? value : undefined;
      scale *= 128;
    }
    return undefined;
  }
}

function limitOf(rule: FieldRule): number {
  switch (rule.kind) {
    case 'bytes':
    case 'bytesList':
      return rule.max;
    case 'string':
      return rule.max * UTF8_PER_CHAR;
    case 'message':
      return Number.MAX_SAFE_INTEGER; // bounded by its own fields, scanned below
  }
}

/**
 * Scans `buf[start, end)` as a `type` message; returns the first problem (prefixed with `path`), or undefined when the
 * wire format is within the limits.
 */
export function scanMessage(numbers: FieldNumbers, type: string, buf: Uint8Array, path: string, start = 0, end = buf.length): string | undefined {
  const rules = REQUEST_LIMITS[type];
  const names = numbers[type];
  if (!rules || !names) return `${path}: no limits for message ${type}`;
  const c = new Cursor(buf, start, end);
  const seen = new Map<number, number>();
  let unknown = 0;
  while (c.pos < end) {
    const tag = c.varint(UINT32_WIDTH);
    if (tag === undefined || tag > 0xffffffff || tag >>> 3 === 0) return `${path}: malformed field tag`;
    const number = tag >>> 3;
    const wireType = tag & 7;
    const name = names.get(number);
    if (name === undefined) {
      if (++unknown > MAX_UNKNOWN_FIELDS) return `${path}: more than ${MAX_UNKNOWN_FIELDS} unknown fields`;
      const skipped = skip(c, wireType);
      if (skipped !== undefined) return `${path}: unknown field ${number}: ${skipped}`;
      continue;
    }
    const rule = rules[name]!;
    if (wireType !== 2) return `${path}.${name}: expected a length-delimited field (wire type 2), got wire type ${wireType}`;
    const length = c.varint(UINT32_WIDTH);
    if (length === undefined) return `${path}.${name}: ${MALFORMED_LENGTH}`;
    if (c.pos + length > end) return `${path}.${name}: length runs past the end of the message`;
    const count = (seen.get(number) ?? 0) + 1;
    seen.set(number, count);
    const refuse = (got: string): string => `${path}.${name}: expected ${describeRule(rule)} (got ${got})`;
    if (rule.kind === 'bytesList') {
      if (count > rule.maxItems) return refuse(`more than ${rule.maxItems} items`);
      if (length > rule.max) return refuse(`item ${count - 1}: ${length} bytes`);
    } else if (count > 1) {
      return `${path}.${name}: given more than once`;
    } else if (length > limitOf(rule)) {
      return refuse(rule.kind === 'string' ? `${length} bytes of UTF-8` : `${length} bytes`);
    }
    if (rule.kind === 'message') {
      const inner = scanMessage(numbers, rule.type, buf, `${path}.${name}`, c.pos, c.pos + length);
      if (inner !== undefined) return inner;
    }
    c.pos += length;
  }
  return undefined;
}

/** Skips one unknown field's value; returns a problem when it can't. */
function skip(c: Cursor, wireType: number): string | undefined {
  switch (wireType) {
    case 0:
      return c.varint(10) === undefined ? 'malformed varint' : undefined;
    case 1:
    case 5: {
      const n = wireType === 1 ? 8 : 4;
      if (c.pos + n > c.end) return 'runs past the end of the message';
      c.pos += n;
      return undefined;
    }
    case 2: {
      const length = c.varint(UINT32_WIDTH);
      if (length === undefined) return MALFORMED_LENGTH;
      if (c.pos + length > c.end) return 'length runs past the end of the message';
      c.pos += length;
      return undefined;
    }
    default:
      return `wire type ${wireType} (groups are not used by this API)`;
  }
}
