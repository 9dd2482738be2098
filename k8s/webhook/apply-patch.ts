/**
 * A strict RFC 6902 applier for `add`, `remove` and `replace` — used by tests only, to prove that what
 * `diffJson` emits turns the admitted object into exactly the injected one (the API server applies the patch
 * with its own implementation; this one follows the RFC so a patch it accepts is one the API server accepts).
 * It never mutates its input.
 */
import { isJsonObject, unescapePointerToken, type JsonPatchOp, type JsonValue } from './json-patch.js';

/** Parses a JSON Pointer into unescaped tokens; `''` is the whole document. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON pointer ${JSON.stringify(pointer)} does not start with "/"`);
  return pointer.slice(1).split('/').map((t) => {
    if (/~[^01]|~$/.test(t)) throw new Error(`JSON pointer ${JSON.stringify(pointer)} has a bad escape`);
    return unescapePointerToken(t);
  });
}

function clone(v: JsonValue): JsonValue {
  return JSON.parse(JSON.stringify(v)) as JsonValue;
}

function arrayIndex(token: string, length: number, allowEnd: boolean, pointer: string): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`${pointer}: "${token}" is not an array index`);
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw new Error(`${pointer}: index ${i} is out of bounds (length ${length})`);
  return i;
}

// Own-property writes that never hit Object.prototype's `__proto__` setter.
function setOwn(obj: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies `ops` in order to a copy of `doc`; throws on any operation the RFC says must fail. */
export function applyPatch(doc: JsonValue, ops: readonly JsonPatchOp[]): JsonValue {
  let root = clone(doc);
  for (const op of ops) {
    const tokens = parsePointer(op.path);
    if (tokens.length === 0) {
      if (op.op === 'remove') throw new Error('cannot remove the whole document');
      root = clone(op.value);
      continue;
    }
    let parent: JsonValue = root;
    for (const t of tokens.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[arrayIndex(t, parent.length, false, op.path)]!;
      else if (isJsonObject(parent) && Object.hasOwn(parent, t)) parent = parent[t]!;
      else throw new Error(`${op.path}: parent location does not exist`);
    }
    const last = tokens[tokens.length - 1]!;
    if (Array.isArray(parent)) {
      const i = arrayIndex(last, parent.length, op.op === 'add', op.path);
      if (op.op === 'add') parent.splice(i, 0, clone(op.value));
      else if (op.op === 'remove') parent.splice(i, 1);
      else parent[i] = clone(op.value);
    } else if (isJsonObject(parent)) {
      if (op.op !== 'add' && !Object.hasOwn(parent, last)) throw new Error(`${op.path}: no such member to ${op.op}`);
      if (op.op === 'remove') delete parent[last];
      else setOwn(parent, last, clone(op.value));
    } else {
      throw new Error(`${op.path}: parent is not a container`);
    }
  }
  return root;
}
