/**
 * Kata / CoCo initdata: the annotation holds base64(gzip(TOML)); the TEE's HOST_DATA / MRCONFIGID is the digest of
 * the decompressed TOML bytes under the document's own top-level `algorithm`. Only the top-level header is read,
 * with a deliberately small reader: blank lines, `#` comments and `key = "basic string"` lines, up to the first
 * table header. Anything else before the first table is refused rather than guessed at.
 */

/** Largest decompressed initdata document accepted (Kubernetes caps all annotations of an object at 256 KiB). */
export const MAX_INITDATA_BYTES = 4 * 1024 * 1024;

/** Digest algorithms initdata may name (Kata initdata specification). */
export const INITDATA_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;

/** One of {@link INITDATA_ALGORITHMS}. */
export type InitDataAlgorithm = (typeof INITDATA_ALGORITHMS)[number];

/** The top-level string keys of an initdata document. */
export interface InitDataHeader {
  readonly version: string;
  readonly algorithm: InitDataAlgorithm;
}

// A TOML basic string without escapes or control characters: anything fancier is refused, not interpreted.
// eslint-disable-next-line no-control-regex
const KEY_VALUE_RE = /^([A-Za-z0-9_-]+)[ \t]*=[ \t]*"([^"\\\u0000-\u001f\u007f]*)"[ \t]*(?:#.*)?$/;
const TABLE_RE = /^\[/;
const COMMENT_RE = /^(?:#.*)?$/;

/** Reads `version` and `algorithm`; returns the header or the reason the text can't be read. */
export function readInitDataHeader(toml: string): { header: InitDataHeader } | { problem: string } {
  const keys = new Map<string, string>();
  const lines = toml.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '').trim();
    if (TABLE_RE.test(line)) break;
    if (COMMENT_RE.test(line)) continue;
    const m = KEY_VALUE_RE.exec(line);
    if (!m) return { problem: `line ${i + 1} before the first table is not a blank line, a comment or key = "string" (this reader reads nothing else)` };
    const [, key, value] = m as unknown as [string, string, string];
    if (keys.has(key)) return { problem: `line ${i + 1} repeats the top-level key ${key}` };
    keys.set(key, value);
  }
  const version = keys.get('version');
  const algorithm = keys.get('algorithm');
  if (version === undefined) return { problem: 'no top-level version = "..."' };
  if (algorithm === undefined) return { problem: 'no top-level algorithm = "..."' };
  if (!(INITDATA_ALGORITHMS as readonly string[]).includes(algorithm)) {
    return { problem: `algorithm ${JSON.stringify(algorithm)} is not one of ${INITDATA_ALGORITHMS.join(', ')}` };
  }
  return { header: { version, algorithm: algorithm as InitDataAlgorithm } };
}
