/**
 * Reading typed fields out of a parsed JSON document (reference values, and the Coordinator manifest later),
 * collecting every problem with its JSON path — `snp.measurements[1]: got "zz", expected 48 bytes of hex` — instead
 * of stopping at the first. Absent optional fields read as undefined; present but wrong ones are issues.
 */
import { fromHex } from '../bytes.js';
import type { ConfigIssue } from '../errors.js';

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Reads the fields of one JSON object at `path`; child readers share the same issue list. */
export class JsonObjectReader {
  readonly path: string;
  readonly issues: ConfigIssue[];
  readonly #obj: Record<string, unknown>;

  /** `what` describes the object for the issue raised when `json` is not an object at all. */
  constructor(path: string, json: unknown, what: string, issues: ConfigIssue[] = []) {
    this.path = path;
    this.issues = issues;
    if (isJsonObject(json)) {
      this.#obj = json;
    } else {
      this.#obj = {};
      this.issue(undefined, json, what);
    }
  }

  /** Records a problem with `key` (or with the object itself when `key` is undefined). */
  issue(key: string | undefined, value: unknown, expected: string): void {
    this.issues.push({ field: key === undefined ? this.path : this.field(key), value: show(value), expected });
  }

  /** The JSON path of `key` in this object. */
  field(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The raw value of `key`. */
  raw(key: string): unknown {
    return Object.hasOwn(this.#obj, key) ? this.#obj[key] : undefined;
  }

  /** Refuses keys not in `allowed` (typos must not silently disable a check). */
  allowOnly(allowed: readonly string[]): void {
    for (const key of Object.keys(this.#obj)) {
      if (!allowed.includes(key)) this.issue(key, this.#obj[key], `one of the keys ${allowed.join(', ')}`);
    }
  }

  /** A hex string of exactly `bytes` bytes, returned lowercase. */
  hex(key: string, bytes: number): string | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : this.#hexValue(this.field(key), v, bytes);
  }

  /** A non-empty list of `bytes`-byte hex strings (any-of semantics are the caller's). */
  hexList(key: string, bytes: number): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      this.issue(key, v, `a non-empty list of ${bytes}-byte hex strings`);
      return undefined;
    }
    const out = v.map((x, i) => this.#hexValue(`${this.field(key)}[${i}]`, x, bytes));
    return out.every((x) => x !== undefined) ? out : undefined;
  }

  /** A list of exactly `length` entries, each `bytes`-byte hex or null (null = not checked). */
  hexOrNullTuple(key: string, length: number, bytes: number): (string | null)[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length !== length) {
      this.issue(key, v, `a list of exactly ${length} entries (${bytes}-byte hex or null)`);
      return undefined;
    }
    const out = v.map((x, i) => (x === null ? null : this.#hexValue(`${this.field(key)}[${i}]`, x, bytes)));
    return out.every((x) => x !== undefined) ? out : undefined;
  }

  /** A boolean. */
  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    this.issue(key, v, 'true or false');
    return undefined;
  }

  /** An integer in [min, max]. */
  int(key: string, max: number, min = 0): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.issue(key, v, `an integer ${min}-${max}`);
      return undefined;
    }
    return v;
  }

  /** A non-empty list whose entries are all from the closed set `allowed`. */
  enumList<T extends string>(key: string, allowed: readonly T[]): T[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      this.issue(key, v, `a non-empty list of ${allowed.join(', ')}`);
      return undefined;
    }
    let ok = true;
    v.forEach((x, i) => {
      if (!(allowed as readonly unknown[]).includes(x)) {
        this.issues.push({ field: `${this.field(key)}[${i}]`, value: show(x), expected: `one of ${allowed.join(', ')}` });
        ok = false;
      }
    });
    return ok ? (v as T[]) : undefined;
  }

  /** A nested object, as a reader sharing this reader's issues; undefined when absent. */
  object(key: string, what: string): JsonObjectReader | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : new JsonObjectReader(this.field(key), v, what, this.issues);
  }

  #hexValue(field: string, v: unknown, bytes: number): string | undefined {
    const b = typeof v === 'string' ? fromHex(v) : undefined;
    if (b?.length !== bytes) {
      this.issues.push({ field, value: show(v), expected: `${bytes} bytes of hex` });
      return undefined;
    }
    return (v as string).toLowerCase();
  }
}

/** Freezes `o` and everything reachable from it (parsed configuration is immutable). */
export function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v as object);
  return Object.freeze(o);
}
