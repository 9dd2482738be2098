/**
 * Reading a manifest's JSON text: a size cap before anything else, strict UTF-8, JSON syntax, a nesting-depth cap
 * (so later stringification of a hostile value can't overflow the stack) and refusal of duplicate object keys,
 * which JSON.parse would silently resolve to the last one (two readers of one manifest must see one meaning).
 */
import type { ConfigIssue } from '../../lib/errors.js';

/** Field name used for problems with the document as a whole. */
export const DOCUMENT_FIELD = '$';

/** Result of {@link readJsonText}: the value when every check passed, else the issues. */
export interface JsonTextResult {
  readonly value?: unknown;
  readonly issues: ConfigIssue[];
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes and parses `source`, refusing text over `maxBytes`, nesting over `maxDepth` and duplicate keys. */
export function readJsonText(source: Uint8Array | string, maxBytes: number, maxDepth: number): JsonTextResult {
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.byteLength;
  if (size > maxBytes) {
    return { issues: [{ field: DOCUMENT_FIELD, value: `${size} bytes`, expected: `a JSON document of at most ${maxBytes} bytes` }] };
  }
  let text: string;
  if (typeof source === 'string') {
    text = source;
  } else {
    try {
      text = decoder.decode(source);
    } catch {
      return { issues: [{ field: DOCUMENT_FIELD, value: undefined, expected: 'UTF-8 text' }] };
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { issues: [{ field: DOCUMENT_FIELD, value: undefined, expected: `JSON text (${why})` }] };
  }
  const issues = scanStructure(text, maxDepth);
  return issues.length > 0 ? { issues } : { value, issues };
}

interface Frame {
  readonly object: boolean;
  readonly path: string;
  readonly keys: Set<string>;
  index: number;
  key: string;
  expectKey: boolean;
}

function childPath(f: Frame | undefined): string {
  if (!f) return '';
  if (!f.object) return `${f.path}[${f.index}]`;
  return f.path === '' ? f.key : `${f.path}.${f.key}`;
}

/**
 * One linear pass over text that JSON.parse already accepted: tracks objects and arrays on an explicit stack (no
 * recursion), records duplicate keys with their JSON path and stops at the first level deeper than `maxDepth`.
 */
function scanStructure(text: string, maxDepth: number): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return issues; // unreachable for valid JSON
        let backslashes = 0;
        while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
        j = q + 1;
        if (backslashes % 2 === 0) break;
      }
      const top = stack.at(-1);
      if (top?.object && top.expectKey) {
        const key = JSON.parse(text.slice(i, j)) as string;
        top.key = key;
        top.expectKey = false;
        if (top.keys.has(key)) {
          issues.push({ field: childPath(top), value: undefined, expected: 'each key at most once in an object (duplicate key)' });
        }
        top.keys.add(key);
      }
      i = j;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) {
        issues.push({ field: childPath(stack.at(-1)), value: undefined, expected: `JSON nested at most ${maxDepth} levels deep` });
        return issues;
      }
      stack.push({ object: c === 0x7b, path: childPath(stack.at(-1)), keys: new Set(), index: 0, key: '', expectKey: true });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top) {
        top.index++;
        top.expectKey = top.object;
      }
    }
    i++;
  }
  return issues;
}
