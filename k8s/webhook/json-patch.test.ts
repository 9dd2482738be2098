/**
 * The diff is proven by applying it: for random JSON pairs (and random edits of one value, which share structure
 * like a pod and its injected form), `applyPatch(before, diffJson(before, after))` equals `after`. The applier is
 * strict RFC 6902 and written independently of the diff; pointer escaping is checked against RFC 6901's examples.
 */
import fc from 'fast-check';
import t from 'tap';
import { applyPatch, parsePointer } from './apply-patch.js';
import { diffJson, escapePointerToken, jsonEqual, toPointer, type JsonValue } from './json-patch.js';

void t.test('pointer escaping follows RFC 6901', async (t) => {
  t.equal(escapePointerToken('ccmesh.dev/injected'), 'ccmesh.dev~1injected');
  t.equal(escapePointerToken('a~b'), 'a~0b');
  t.equal(escapePointerToken('~1'), '~01', '"~" is escaped before "/" so a literal "~1" survives');
  t.equal(escapePointerToken('/~'), '~1~0');
  t.equal(toPointer(['metadata', 'annotations', 'io.katacontainers.config/x']), '/metadata/annotations/io.katacontainers.config~1x');
  t.equal(toPointer(['spec', 'containers', 0]), '/spec/containers/0');
  // RFC 6901 §5 examples.
  t.same(parsePointer('/a~1b'), ['a/b']);
  t.same(parsePointer('/m~0n'), ['m~n']);
  t.same(parsePointer('/~01'), ['~1']);
  t.same(parsePointer(''), []);
  t.same(parsePointer('/'), ['']);
  t.throws(() => parsePointer('/a~2'), /bad escape/);
  t.throws(() => parsePointer('a'), /does not start/);
});

void t.test('hand-checked diffs', async (t) => {
  t.same(diffJson({ a: 1 }, { a: 1 }), [], 'equal values: no operations');
  t.same(diffJson({ metadata: {} }, { metadata: { annotations: { 'ccmesh.dev/injected': '0.1.0' } } }), [
    { op: 'add', path: '/metadata/annotations', value: { 'ccmesh.dev/injected': '0.1.0' } },
  ]);
  t.same(diffJson({ metadata: { annotations: { x: '1' } } }, { metadata: { annotations: { x: '1', 'ccmesh.dev/injected': 'v' } } }), [
    { op: 'add', path: '/metadata/annotations/ccmesh.dev~1injected', value: 'v' },
  ]);
  t.same(diffJson({ a: 1, b: 2 }, { b: 3 }), [{ op: 'remove', path: '/a' }, { op: 'replace', path: '/b', value: 3 }]);
  t.same(diffJson({ c: [1, 2] }, { c: [1, 2, 3, 4] }), [{ op: 'add', path: '/c/2', value: 3 }, { op: 'add', path: '/c/3', value: 4 }], 'append');
  t.same(diffJson({ c: [3] }, { c: [1, 2, 3] }), [{ op: 'add', path: '/c/0', value: 1 }, { op: 'add', path: '/c/1', value: 2 }], 'prepend');
  t.same(diffJson({ c: [1, 3] }, { c: [1, 2, 3] }), [{ op: 'replace', path: '/c', value: [1, 2, 3] }], 'insert in the middle: whole array');
  t.same(diffJson({ c: [1, 2, 3] }, { c: [1, 3] }), [{ op: 'replace', path: '/c', value: [1, 3] }], 'shrink: whole array');
  t.same(diffJson({ c: [{ n: 'a' }, { n: 'b' }] }, { c: [{ n: 'a' }, { n: 'B', x: 1 }] }), [
    { op: 'replace', path: '/c/1/n', value: 'B' },
    { op: 'add', path: '/c/1/x', value: 1 },
  ], 'same length: element by element');
  t.same(diffJson({ c: [] }, { c: [1] }), [{ op: 'replace', path: '/c', value: [1] }], 'empty array grows: whole array');
  t.same(diffJson({ a: null }, { a: {} }), [{ op: 'replace', path: '/a', value: {} }], 'type change');
  t.same(diffJson(1, 2), [{ op: 'replace', path: '', value: 2 }], 'root replace');
});

void t.test('strict applier refuses what the RFC says must fail', async (t) => {
  t.throws(() => applyPatch({}, [{ op: 'replace', path: '/a', value: 1 }]), /no such member/);
  t.throws(() => applyPatch({}, [{ op: 'remove', path: '/a' }]), /no such member/);
  t.throws(() => applyPatch({ a: [1] }, [{ op: 'add', path: '/a/2', value: 1 }]), /out of bounds/);
  t.throws(() => applyPatch({ a: [1] }, [{ op: 'replace', path: '/a/1', value: 1 }]), /out of bounds/);
  t.throws(() => applyPatch({ a: [1] }, [{ op: 'add', path: '/a/01', value: 1 }]), /not an array index/);
  t.throws(() => applyPatch({}, [{ op: 'add', path: '/a/b', value: 1 }]), /parent location/);
  t.same(applyPatch({ a: [1] }, [{ op: 'add', path: '/a/-', value: 2 }]), { a: [1, 2] });
  const before = { a: { b: 1 } };
  applyPatch(before, [{ op: 'remove', path: '/a/b' }]);
  t.same(before, { a: { b: 1 } }, 'input not mutated');
});

// Keys that exercise escaping and prototype-named members.
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('a/b', '~', '~1', '/', '', '__proto__', 'constructor', 'ccmesh.dev/injected'));
const json: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false),
    fc.integer(),
    fc.string({ maxLength: 5 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(key, tie('v'), { maxKeys: 4 }).map((d) => JSON.parse(JSON.stringify(d)) as JsonValue),
  ),
})).v;

/** Picks an integer in [min, max]. */
type Rnd = (min: number, max: number) => number;

/** A random edit of `v`: change, add or remove somewhere inside, or insert/append/prepend/remove in an array. */
function mutate(v: JsonValue, rnd: Rnd): JsonValue {
  const pick = rnd(0, 9);
  if (Array.isArray(v)) {
    const copy = [...v];
    if (pick < 2) copy.push(rnd(0, 3));
    else if (pick < 4) copy.unshift({ added: rnd(0, 3) });
    else if (pick < 5 && copy.length > 0) copy.splice(rnd(0, copy.length - 1), 1);
    else if (pick < 6) copy.splice(rnd(0, copy.length), 0, 'mid');
    else if (copy.length > 0) {
      const i = rnd(0, copy.length - 1);
      copy[i] = mutate(copy[i]!, rnd);
    }
    return copy;
  }
  if (v !== null && typeof v === 'object') {
    const copy = JSON.parse(JSON.stringify(v)) as { [k: string]: JsonValue };
    const set = (k: string, value: JsonValue): void => {
      Object.defineProperty(copy, k, { value, enumerable: true, writable: true, configurable: true });
    };
    const keys = Object.keys(copy);
    if (pick < 3 || keys.length === 0) set(`k/${rnd(0, 5)}~`, [1]);
    else if (pick < 4) delete copy[keys[rnd(0, keys.length - 1)]!];
    else {
      const k = keys[rnd(0, keys.length - 1)]!;
      set(k, mutate(copy[k]!, rnd));
    }
    return copy;
  }
  return pick < 5 ? { was: v } : 'changed';
}

void t.test('apply(before, diff(before, after)) equals after — unrelated random values', async (t) => {
  fc.assert(
    fc.property(json, json, (a, b) => {
      const ops = diffJson(a, b);
      if (!jsonEqual(applyPatch(a, ops), b)) return false;
      return (ops.length === 0) === jsonEqual(a, b);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random pairs round-trip');
});

void t.test('apply(before, diff(before, after)) equals after — random edits of one value', async (t) => {
  let changed = 0;
  fc.assert(
    fc.property(json, fc.integer({ min: 1, max: 5 }), fc.gen(), (a, edits, g) => {
      const rnd: Rnd = (min, max) => g(fc.integer, { min, max });
      let b = a;
      for (let i = 0; i < edits; i++) b = mutate(b, rnd);
      const ops = diffJson(a, b);
      if (ops.length > 0) changed++;
      // Through JSON text too: what the API server receives is the serialised patch.
      const viaText = JSON.parse(JSON.stringify(ops)) as typeof ops;
      return jsonEqual(applyPatch(a, ops), b) && jsonEqual(applyPatch(a, viaText), b);
    }),
    { numRuns: 2000 },
  );
  t.ok(changed > 1500, `most edits produced a non-empty patch (${changed}/2000)`);
});
