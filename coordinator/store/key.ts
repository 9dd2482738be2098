/**
 * The store key grammar: `/`-separated segments of [a-z0-9._-], each starting with a letter or digit. The
 * restriction keeps keys safe as file names (no `..`, no leading dot that could look like a temporary file), as
 * etcd keys and in logs, and leaves upper case free for the file store's own bookkeeping files.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { MAX_VALUE_BYTES } from './store.js';

/** Longest accepted key; with `/` escaped as `%2F` the file store's names stay below the 255-byte name limit. */
export const MAX_KEY_LENGTH = 160;

const SEGMENT = '[a-z0-9][a-z0-9._-]*';
const KEY_RE = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);
// A prefix is any leading part of a key: complete segments, optionally followed by a partial one.
const PREFIX_RE = /^[a-z0-9._/-]*$/;

/** True when `key` is a valid store key. */
export function isValidKey(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && KEY_RE.test(key);
}

/** Throws STORE_KEY_INVALID unless `key` is a valid store key. */
export function assertKey(key: string): void {
  if (!isValidKey(key)) {
    throw new CcmeshError(
      ErrorCode.STORE_KEY_INVALID,
      `store key ${JSON.stringify(key)} is invalid: expected at most ${MAX_KEY_LENGTH} characters of '/'-separated segments [a-z0-9][a-z0-9._-]*`,
    );
  }
}

/** Throws STORE_KEY_INVALID unless `prefix` could start a valid key ("" lists everything). */
export function assertPrefix(prefix: string): void {
  if (prefix.length > MAX_KEY_LENGTH || !PREFIX_RE.test(prefix)) {
    throw new CcmeshError(ErrorCode.STORE_KEY_INVALID, `store prefix ${JSON.stringify(prefix)} is invalid: expected characters [a-z0-9._/-]`);
  }
}

/** Throws STORE_VALUE_TOO_LARGE when `value` exceeds {@link MAX_VALUE_BYTES}. */
export function assertValueSize(key: string, value: Uint8Array): void {
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new CcmeshError(
      ErrorCode.STORE_VALUE_TOO_LARGE,
      `value for store key ${key} is ${value.byteLength} bytes; the limit is ${MAX_VALUE_BYTES}`,
    );
  }
}

/** Throws STORE_KEY_INVALID unless `expected` is a usable expected revision (an integer ≥ 0). */
export function assertExpectedRevision(key: string, expected: number): void {
  if (!Number.isSafeInteger(expected) || expected < 0) {
    throw new CcmeshError(ErrorCode.STORE_KEY_INVALID, `expected revision for store key ${key} must be an integer >= 0, got ${expected}`);
  }
}
