/**
 * RFC 6902 JSON Patch produced as the difference of two JSON values, for the admission webhook's answer. Only
 * `add`, `remove` and `replace` are emitted. Correctness comes before minimality: an array is patched element by
 * element only when its length is unchanged, with `add` operations when elements were purely appended or
 * prepended, and is replaced whole otherwise — never with index arithmetic that a reader has to trust.
 */

/** A JSON value as `JSON.parse` returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One RFC 6902 operation of the kinds this module emits. */
export type JsonPatchOp =
  | { readonly op: 'add'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'replace'; readonly path: string; readonly value: JsonValue };

/** Escapes one reference token for a JSON Pointer (RFC 6901): `~` → `~0`, then `/` → `~1`. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Reverses {@link escapePointerToken}: `~1` → `/`, then `~0` → `~` (this order, so `~01` stays `~1`). */
export function unescapePointerToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Builds a JSON Pointer from unescaped tokens, e.g. `['metadata','annotations','ccmesh.dev/x']` → `/metadata/annotations/ccmesh.dev~1x`. */
export function toPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(String(t))}`).join('');
}

/** True for a non-array, non-null object. */
export function isJsonObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of two JSON values (object key order is irrelevant, array order is not). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]!));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k]!, b[k]!));
  }
  return false;
}

/**
 * The operations that turn `before` into `after`, in order. Applying them to `before` (see `apply-patch.ts`)
 * yields a value that {@link jsonEqual}s `after`; the result is empty exactly when the two are equal.
 */
export function diffJson(before: JsonValue, after: JsonValue): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  diffAt('', before, after, ops);
  return ops;
}

function diffAt(path: string, before: JsonValue, after: JsonValue, ops: JsonPatchOp[]): void {
  if (jsonEqual(before, after)) return;
  if (isJsonObject(before) && isJsonObject(after)) {
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: `${path}/${escapePointerToken(key)}` });
    }
    for (const key of Object.keys(after)) {
      const child = `${path}/${escapePointerToken(key)}`;
      if (Object.hasOwn(before, key)) diffAt(child, before[key]!, after[key]!, ops);
      else ops.push({ op: 'add', path: child, value: after[key]! });
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    diffArray(path, before, after, ops);
    return;
  }
  ops.push({ op: 'replace', path, value: after });
}

function diffArray(path: string, before: JsonValue[], after: JsonValue[], ops: JsonPatchOp[]): void {
  const n = before.length;
  const m = after.length;
  if (n === m) {
    for (let i = 0; i < n; i++) diffAt(`${path}/${i}`, before[i]!, after[i]!, ops);
    return;
  }
  if (m > n && n > 0) {
    // Pure append: `before` is a prefix of `after`. Adds at explicit indices n, n+1, … (each lands at the end).
    if (before.every((v, i) => jsonEqual(v, after[i]!))) {
      for (let i = n; i < m; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: after[i]! });
      return;
    }
    // Pure prepend: `before` is a suffix of `after`. Adding at 0, 1, … in order shifts `before` right each time.
    const k = m - n;
    if (before.every((v, i) => jsonEqual(v, after[k + i]!))) {
      for (let i = 0; i < k; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: after[i]! });
      return;
    }
  }
  // Any other change of length: replace the whole array (the root has no parent to add into, so replace there too).
  ops.push({ op: 'replace', path, value: after });
}
