/**
 * Small JSON state records the Coordinator keeps beside the history (for example `state/root-ca` with the root CA
 * certificate PEM, or `state/salt`), read and written with the store's compare-and-swap. The caller's `parse`
 * turns the JSON into its type, so a record of the wrong shape is STORE_CORRUPT here and never reaches the caller.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { CasResult, Store } from '../store/store.js';

/** Prefix under which state records live, apart from the history's keys. */
export const STATE_PREFIX = 'state/';

/** A parsed record and the revision to pass back when replacing it. */
export interface StateRecord<T> {
  readonly value: T;
  readonly revision: number;
}

/** Reads `key` and parses it with `parse` (undefined = wrong shape); undefined when the record does not exist. */
export async function readStateRecord<T>(store: Store, key: string, parse: (json: unknown) => T | undefined): Promise<StateRecord<T> | undefined> {
  const entry = await store.get(key);
  if (entry === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(entry.value));
  } catch (err) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `state record ${key} is not UTF-8 JSON`, { cause: err });
  }
  const value = parse(json);
  if (value === undefined) throw new CcmeshError(ErrorCode.STORE_CORRUPT, `state record ${key} does not have the expected shape`);
  return { value, revision: entry.revision };
}

/** Writes `value` as JSON to `key` if the record is still at `expectedRevision` (0 = must not exist yet). */
export async function writeStateRecord(store: Store, key: string, value: unknown, expectedRevision: number): Promise<CasResult> {
  return store.compareAndSwap(key, expectedRevision, new TextEncoder().encode(JSON.stringify(value)));
}
