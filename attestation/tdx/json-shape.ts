/**
 * Typed reads from parsed collateral JSON with the JSON path of the first problem, so "tcbInfo.tcbLevels[3].tcb
 * .pcesvn: expected an integer 0-65535" tells an operator exactly what is wrong with a document.
 */
import { fromHex } from '../../lib/bytes.js';
import { CollateralFormatError } from './signed-json.js';

/** Throws a CollateralFormatError naming `path`. */
export function shapeFail(path: string, expected: string, value: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(value)?.slice(0, 60) ?? String(value);
  } catch {
    shown = typeof value;
  }
  throw new CollateralFormatError(`${path}: expected ${expected}, got ${shown}`);
}

/** `v` as a plain object. */
export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) shapeFail(path, 'an object', v);
  return v as Record<string, unknown>;
}

/** `v` as an array of at most `max` elements. */
export function arr(v: unknown, path: string, max = 1024): unknown[] {
  if (!Array.isArray(v)) shapeFail(path, 'an array', v);
  if (v.length > max) shapeFail(path, `at most ${max} elements`, v.length);
  return v;
}

/** `v` as a string. */
export function str(v: unknown, path: string): string {
  if (typeof v !== 'string') shapeFail(path, 'a string', v);
  return v;
}

/** `v` as an integer in [min, max]. */
export function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) shapeFail(path, `an integer ${min}-${max}`, v);
  return v;
}

/** `v` as hex of exactly `len` bytes (either case). */
export function hexBytes(v: unknown, path: string, len: number): Uint8Array {
  const b = typeof v === 'string' ? fromHex(v) : undefined;
  if (!b || b.length !== len) shapeFail(path, `hex of ${len} bytes`, v);
  return b;
}

/** `v` as an RFC 3339 UTC date. */
export function date(v: unknown, path: string): Date {
  const s = str(v, path);
  const d = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) ? new Date(s) : undefined;
  if (!d || Number.isNaN(d.getTime())) shapeFail(path, 'an RFC 3339 UTC time', v);
  return d;
}

/** `v` as an optional list of strings (advisory IDs); absent → empty. */
export function optStrings(v: unknown, path: string): string[] {
  if (v === undefined) return [];
  return arr(v, path).map((x, i) => str(x, `${path}[${i}]`));
}
