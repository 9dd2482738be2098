/**
 * Text collateral as exact bytes. Intel signs the exact bytes of TCB info and QE identity, so decoding must be
 * lossless: invalid UTF-8 is refused instead of silently replaced, and a byte-order mark is kept, not stripped.
 */

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Decodes UTF-8 so that re-encoding gives the same bytes; undefined when `bytes` is not UTF-8. */
export function decodeExactText(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** UTF-8 bytes of `text`. */
export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}
