/**
 * Paths in `configDigests`: absolute mount paths and file paths relative to them. Only already-normal paths are
 * accepted (no `.`/`..` segments, no empty segments, no trailing slash, no control characters), so one file has one
 * spelling and nothing can point outside its mount.
 */

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

function normalSegments(segments: readonly string[]): boolean {
  return segments.every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Why `p` is not an acceptable absolute mount path, or undefined when it is. */
export function mountPathProblem(p: string, maxChars: number): string | undefined {
  if (p.length === 0 || p.length > maxChars || CONTROL_RE.test(p)) return `an absolute path of 2-${maxChars} printable characters`;
  if (!p.startsWith('/') || p === '/') return 'an absolute path below / (e.g. /etc/app)';
  if (!normalSegments(p.slice(1).split('/'))) return 'a normal absolute path (no "..", ".", "//" or trailing "/")';
  return undefined;
}

/** Why `p` is not an acceptable path relative to a mount, or undefined when it is. */
export function relativePathProblem(p: string, maxChars: number): string | undefined {
  if (p.length === 0 || p.length > maxChars || CONTROL_RE.test(p)) return `a relative path of 1-${maxChars} printable characters`;
  if (p.startsWith('/')) return 'a path relative to the mount (no leading "/")';
  if (!normalSegments(p.split('/'))) return 'a normal relative path (no "..", ".", "//" or trailing "/")';
  return undefined;
}

/** True when `s` contains a C0 or C1 control character or DEL. */
export function hasControlChars(s: string): boolean {
  return CONTROL_RE.test(s);
}
