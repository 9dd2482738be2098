/**
 * Intel's signed collateral documents are JSON `{"<body key>": {...}, "signature": "<hex r||s>"}` where the
 * signature covers the body value **exactly as served** — re-serialising would change whitespace or key order and
 * break (or, worse, fake) the check. This module finds the byte span of each top-level member without
 * re-encoding anything, and the body that ccmesh evaluates is parsed from those same signed bytes.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { fromHex } from '../../lib/bytes.js';

/** A collateral JSON document that is malformed or shaped unexpectedly. */
export class CollateralFormatError extends CcmeshError {
  override readonly name = 'CollateralFormatError';

  constructor(message: string) {
    super(ErrorCode.ATTEST_COLLATERAL, message);
  }
}

/** Largest collateral JSON accepted; Intel's documents are a few KiB. */
export const MAX_COLLATERAL_JSON_BYTES = 1 << 20;

/** The signed parts of a collateral document. */
export interface SignedJson {
  /** Which top-level key holds the body ("tcbInfo" / "enclaveIdentity"). */
  readonly bodyKey: string;
  /** The exact bytes of the body value as they appear in the file: what the signature covers. */
  readonly signedBytes: Uint8Array;
  /** The body parsed from {@link signedBytes}. */
  readonly body: unknown;
  /** r‖s, 64 bytes. */
  readonly signature: Uint8Array;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly and parses JSON; throws CollateralFormatError. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  if (bytes.length > MAX_COLLATERAL_JSON_BYTES) throw new CollateralFormatError(`${what}: larger than ${MAX_COLLATERAL_JSON_BYTES} bytes`);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new CollateralFormatError(`${what}: not UTF-8 text`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // RangeError from pathological nesting lands here too.
    throw new CollateralFormatError(`${what}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Byte spans of the values of the top-level members of a JSON object. The caller must have checked that `b` is
 * valid JSON (so brackets balance and strings terminate); duplicate top-level keys are refused because JSON.parse
 * would keep the last while a signature check might use the first.
 */
export function topLevelSpans(b: Uint8Array, what: string): Map<string, { start: number; end: number }> {
  const fail = (p: number, msg: string): never => {
    throw new CollateralFormatError(`${what}: ${msg} at byte ${p}`);
  };
  let p = 0;
  const skipWs = (): void => {
    while (p < b.length && WS.has(b[p]!)) p++;
  };
  const scanString = (): void => {
    // p is at the opening quote.
    p++;
    while (p < b.length && b[p] !== 0x22) p += b[p] === 0x5c ? 2 : 1;
    if (p >= b.length) fail(p, 'unterminated string');
    p++;
  };
  const scanValue = (): void => {
    const c = b[p];
    if (c === 0x22) return scanString();
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (p < b.length) {
        const d = b[p]!;
        if (d === 0x22) {
          scanString();
          continue;
        }
        if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) depth--;
        p++;
        if (depth === 0) return;
      }
      return fail(p, 'unbalanced brackets');
    }
    while (p < b.length && !WS.has(b[p]!) && b[p] !== 0x2c && b[p] !== 0x7d) p++;
  };

  const out = new Map<string, { start: number; end: number }>();
  skipWs();
  if (b[p] !== 0x7b) fail(p, 'expected a JSON object');
  p++;
  skipWs();
  if (b[p] === 0x7d) return out;
  for (;;) {
    skipWs();
    if (b[p] !== 0x22) fail(p, 'expected a member name');
    const keyStart = p;
    scanString();
    let key: string;
    try {
      key = JSON.parse(Buffer.from(b.subarray(keyStart, p)).toString('utf8')) as string;
    } catch {
      return fail(keyStart, 'malformed member name');
    }
    skipWs();
    if (b[p] !== 0x3a) fail(p, 'expected ":"');
    p++;
    skipWs();
    const start = p;
    scanValue();
    if (out.has(key)) fail(keyStart, `duplicate top-level member ${JSON.stringify(key)}`);
    out.set(key, { start, end: p });
    skipWs();
    if (b[p] === 0x2c) {
      p++;
      continue;
    }
    if (b[p] === 0x7d) break;
    fail(p, 'expected "," or "}"');
  }
  return out;
}

/** Splits a signed collateral document into its exact signed bytes, parsed body and signature. */
export function readSignedJson(bytes: Uint8Array, bodyKey: string, what: string): SignedJson {
  const doc = parseJsonBytes(bytes, what);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CollateralFormatError(`${what}: not a JSON object`);
  const spans = topLevelSpans(bytes, what);
  const span = spans.get(bodyKey);
  if (!span) throw new CollateralFormatError(`${what}: no "${bodyKey}" member`);
  const sig = (doc as Record<string, unknown>).signature;
  if (typeof sig !== 'string') throw new CollateralFormatError(`${what}: "signature" is not a string`);
  const signature = fromHex(sig);
  if (!signature || signature.length !== 64) throw new CollateralFormatError(`${what}: "signature" is not 64 bytes of hex (r||s)`);
  const signedBytes = bytes.subarray(span.start, span.end);
  const body = parseJsonBytes(signedBytes, `${what} "${bodyKey}"`);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CollateralFormatError(`${what}: "${bodyKey}" is not an object`);
  return { bodyKey, signedBytes, body, signature };
}
