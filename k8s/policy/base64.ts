/**
 * Strict base64 for policy annotations. Node's decoder skips characters it doesn't know, so two different
 * annotation texts could decode to the same document; here a text decodes only when it is canonical standard
 * base64 (RFC 4648 §4, padded, no whitespace), so one annotation value means exactly one document.
 */

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of `text`, or undefined unless it is canonical padded standard base64. */
export function decodeStrictBase64(text: string): Buffer | undefined {
  if (!BASE64_RE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Non-zero bits in the last character's unused positions decode the same as zero bits: refuse them.
  return bytes.toString('base64') === text ? bytes : undefined;
}
