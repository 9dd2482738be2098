/**
 * Building blocks for "parse, don't validate later": a {@link FieldReader} reads named string values from one
 * source (CLI flags, env, a JSON document), converts them to typed values and collects every problem instead of
 * stopping at the first. Call {@link FieldReader.finish} once to get either the issues or nothing.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';

/** A source of raw configuration values by field name. */
export type RawSource = Readonly<Record<string, string | undefined>>;

/** Collects typed values and issues from one {@link RawSource}. */
export class FieldReader {
  readonly #source: RawSource;
  readonly #issues: ConfigIssue[] = [];
  readonly #what: string;
  readonly #prefix: string;

  /**
   * @param what    what is being parsed, for the error headline ("attest verify flags")
   * @param source  raw values by field name
   * @param prefix  shown before field names in issues (e.g. "--")
   */
  constructor(what: string, source: RawSource, prefix = '') {
    this.#what = what;
    this.#source = source;
    this.#prefix = prefix;
  }

  /** Records a problem with `field` (shown with the reader's prefix unless `bare`, e.g. for a positional argument). */
  issue(field: string, value: string | undefined, expected: string, opts: { bare?: boolean } = {}): void {
    this.#issues.push({ field: opts.bare === true ? field : this.#prefix + field, value, expected });
  }

  /** The raw value, or undefined. */
  raw(field: string): string | undefined {
    return this.#source[field];
  }

  /** A required non-empty string. */
  requiredString(field: string, expected = 'a non-empty value'): string | undefined {
    const v = this.#source[field];
    if (v === undefined || v === '') {
      this.issue(field, v, expected);
      return undefined;
    }
    return v;
  }

  /** One of a closed set of literals; `fallback` when absent. */
  oneOf<T extends string>(field: string, allowed: readonly T[], fallback?: T): T | undefined {
    const v = this.#source[field];
    if (v === undefined) {
      if (fallback === undefined) this.issue(field, v, `one of ${allowed.join(', ')}`);
      return fallback;
    }
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.issue(field, v, `one of ${allowed.join(', ')}`);
    return undefined;
  }

  /** An integer in [min, max]; `fallback` when absent. */
  integer(field: string, min: number, max: number, fallback?: number): number | undefined {
    const v = this.#source[field];
    if (v === undefined) {
      if (fallback === undefined) this.issue(field, v, `an integer from ${min} to ${max}`);
      return fallback;
    }
    if (!/^-?\d+$/.test(v)) {
      this.issue(field, v, `an integer from ${min} to ${max}`);
      return undefined;
    }
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.issue(field, v, `an integer from ${min} to ${max}`);
      return undefined;
    }
    return n;
  }

  /** A TCP/UDP port 1–65535. */
  port(field: string, fallback?: number): number | undefined {
    const v = this.#source[field];
    if (v === undefined) return fallback;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      this.issue(field, v, 'a port number from 1 to 65535');
      return undefined;
    }
    return n;
  }

  /** A duration like `250ms`, `30s`, `5m`, `24h` (or bare milliseconds); returns milliseconds. */
  duration(field: string, fallbackMs?: number): number | undefined {
    const v = this.#source[field];
    if (v === undefined) return fallbackMs;
    const ms = parseDurationMs(v);
    if (ms === undefined) this.issue(field, v, 'a duration such as 500ms, 30s, 5m or 24h');
    return ms;
  }

  /** An RFC 3339 timestamp with an explicit zone. */
  timestamp(field: string): Date | undefined {
    const v = this.#source[field];
    if (v === undefined) return undefined;
    const d = parseRfc3339(v);
    if (!d) this.issue(field, v, 'an RFC 3339 time with a zone, e.g. 2024-01-01T00:00:00Z');
    return d;
  }

  /** True when no issue was recorded so far. */
  get clean(): boolean {
    return this.#issues.length === 0;
  }

  /** Throws a {@link ConfigError} listing every issue, if there are any. */
  finish(): void {
    if (this.#issues.length > 0) throw new ConfigError(this.#what, this.#issues);
  }
}

/** Parses `500ms`, `30s`, `5m`, `24h`, `1h30m` or a bare millisecond count; undefined when malformed. */
export function parseDurationMs(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s);
  const re = /(\d+)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (const m of s.matchAll(re)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
    matched += m[0].length;
  }
  if (matched !== s.length || s.length === 0 || !Number.isSafeInteger(total)) return undefined;
  return total;
}

/** Parses an RFC 3339 date-time that names its zone (`Z` or `±hh:mm`); undefined otherwise. */
export function parseRfc3339(s: string): Date | undefined {
  if (!/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(s)) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
