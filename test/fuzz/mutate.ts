/**
 * Mutation-style input generators over a corpus: each input is a corpus entry with 1–8 edits (bit flips, interesting
 * values, inserted/deleted/duplicated ranges, splices from another entry, truncation) or, rarely, random bytes. JSON
 * targets get structural edits instead: a random sub-value replaced by an edge value or a random JSON value, a key
 * removed, an array grown.
 */
import fc from 'fast-check';

/** Byte values that tend to sit on boundaries (lengths, signs, tags). */
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff] as const;
/** 32-bit values written over lengths and counts. */
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff] as const;

type ByteEdit = (b: Uint8Array, others: readonly Uint8Array[]) => Uint8Array;

function byteEdit(): fc.Arbitrary<ByteEdit> {
  const pos = fc.nat();
  return fc.oneof(
    fc.tuple(pos, fc.nat({ max: 7 })).map(([p, bit]): ByteEdit => (b) => {
      if (b.length === 0) return b;
      const c = Uint8Array.from(b);
      c[p % c.length]! ^= 1 << bit;
      return c;
    }),
    fc.tuple(pos, fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.integer({ min: 0, max: 255 }))).map(([p, v]): ByteEdit => (b) => {
      if (b.length === 0) return b;
      const c = Uint8Array.from(b);
      c[p % c.length] = v;
      return c;
    }),
    fc.tuple(pos, fc.constantFrom(...INTERESTING_U32), fc.boolean()).map(([p, v, le]): ByteEdit => (b) => {
      if (b.length < 4) return b;
      const c = Uint8Array.from(b);
      new DataView(c.buffer).setUint32(p % (c.length - 3), v, le);
      return c;
    }),
    fc.tuple(pos, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([p, ins]): ByteEdit => (b) => {
      const at = p % (b.length + 1);
      return concat(b.subarray(0, at), ins, b.subarray(at));
    }),
    fc.tuple(pos, fc.integer({ min: 1, max: 64 })).map(([p, n]): ByteEdit => (b) => {
      if (b.length === 0) return b;
      const at = p % b.length;
      return concat(b.subarray(0, at), b.subarray(at + n));
    }),
    pos.map((p): ByteEdit => (b) => b.subarray(0, p % (b.length + 1))),
    fc.tuple(pos, pos, fc.integer({ min: 1, max: 64 })).map(([from, to, n]): ByteEdit => (b) => {
      if (b.length === 0) return b;
      const chunk = b.subarray(from % b.length, (from % b.length) + n);
      const at = to % (b.length + 1);
      return concat(b.subarray(0, at), chunk, b.subarray(at));
    }),
    fc.tuple(pos, pos, pos).map(([which, from, at]): ByteEdit => (b, others) => {
      const other = others[which % others.length];
      if (!other || other.length === 0) return b;
      const cut = at % (b.length + 1);
      return concat(b.subarray(0, cut), other.subarray(from % other.length));
    }),
  );
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Mutated corpus entries (and a few random byte strings). */
export function mutatedBytes(corpus: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  if (corpus.length === 0) return fc.uint8Array({ maxLength: 4096 });
  const edited = fc.tuple(fc.nat({ max: corpus.length - 1 }), fc.array(byteEdit(), { minLength: 1, maxLength: 8 })).map(([i, edits]) =>
    edits.reduce((b, edit) => edit(b, corpus), corpus[i]!),
  );
  return fc.oneof({ arbitrary: edited, weight: 18 }, { arbitrary: fc.constantFrom(...corpus), weight: 1 }, { arbitrary: fc.uint8Array({ maxLength: 2048 }), weight: 1 });
}

/** Values placed where a parser expects something else. */
const EDGE_VALUES: readonly unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, '', ' ', 'x'.repeat(70_000), '\u0000', '../../etc/passwd', '__proto__', [], {}, [null], { '': null }, { __proto__: null }];

type JsonEdit = (v: unknown) => unknown;

/** Every path (list of keys) to a sub-value of `v`, `v` itself included (bounded, breadth first). */
function pathsOf(v: unknown, limit = 512): (string | number)[][] {
  const out: (string | number)[][] = [];
  const queue: [(string | number)[], unknown][] = [[[], v]];
  while (queue.length > 0 && out.length < limit) {
    const [path, node] = queue.shift()!;
    out.push(path);
    const kids: [string | number, unknown][] = Array.isArray(node) ? node.map((c, i) => [i, c]) : node !== null && typeof node === 'object' ? Object.entries(node) : [];
    for (const [k, c] of kids.slice(0, limit - out.length - queue.length)) queue.push([[...path, k], c]);
  }
  return out;
}

function replaceAt(v: unknown, path: readonly (string | number)[], f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(v);
  const [head, ...rest] = path;
  if (Array.isArray(v)) return v.map((c, i) => (i === head ? replaceAt(c, rest, f) : c)).filter((c) => c !== DELETE);
  if (v !== null && typeof v === 'object') {
    const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const next = replaceAt(copy[head as string], rest, f);
    if (next === DELETE) delete copy[head as string];
    else Object.defineProperty(copy, head as string, { value: next, enumerable: true, writable: true, configurable: true });
    return copy;
  }
  return v;
}

const DELETE = Symbol('delete');

/** Largest JSON text an array is grown to. */
const MAX_GROWN_JSON = 1_000_000;

function jsonEdit(): fc.Arbitrary<JsonEdit> {
  const replacement = fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.jsonValue({ maxDepth: 3 }));
  return fc.tuple(fc.nat(), fc.oneof({ arbitrary: replacement.map((r) => ({ op: 'set' as const, r })), weight: 6 }, { arbitrary: fc.constant({ op: 'delete' as const, r: undefined }), weight: 2 }, { arbitrary: fc.integer({ min: 2, max: 2000 }).map((n) => ({ op: 'grow' as const, r: n })), weight: 1 })).map(
    ([p, { op, r }]): JsonEdit => (v) => {
      const paths = pathsOf(v);
      const path = paths[p % paths.length]!;
      return replaceAt(v, path, (old) => {
        if (op === 'set') return r;
        if (op === 'delete') return path.length === 0 ? null : DELETE;
        // Grown arrays stay under ~1 MB of JSON: edits compound, and the generator must not be what runs out of time.
        if (!Array.isArray(old) || old.length === 0 || (JSON.stringify(old).length / old.length) * (r as number) > MAX_GROWN_JSON) return old;
        return Array.from({ length: r as number }, (_, i) => old[i % old.length]);
      });
    },
  );
}

/** Structurally mutated corpus values (and a few arbitrary JSON values). */
export function mutatedJson(corpus: readonly unknown[]): fc.Arbitrary<unknown> {
  if (corpus.length === 0) return fc.jsonValue();
  // Through JSON text at the end: what a peer sends has no shared sub-objects (grown arrays repeat references).
  const edited = fc.tuple(fc.nat({ max: corpus.length - 1 }), fc.array(jsonEdit(), { minLength: 1, maxLength: 6 })).map(([i, edits]) => JSON.parse(JSON.stringify(edits.reduce((v, e) => e(v), corpus[i])) ?? 'null') as unknown);
  return fc.oneof({ arbitrary: edited, weight: 18 }, { arbitrary: fc.constantFrom(...corpus), weight: 1 }, { arbitrary: fc.jsonValue({ maxDepth: 4 }), weight: 1 });
}
