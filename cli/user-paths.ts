/**
 * Errors about paths and addresses the user named, as one line that names the flag: a missing parent directory, a
 * file where a directory is wanted, a read-only file system, a busy port. Only operating-system refusals are
 * translated; deliberate ccmesh errors and bugs pass through unchanged.
 */
import { resolve } from 'node:path';
import { CcmeshError, describeSystemError, ErrorCode, quoteValue, systemErrorCode } from '../lib/errors.js';

/** Runs `fn`, which writes or creates `path` given through `flag`; a system error becomes OUTPUT_UNWRITABLE (exit 64). */
export async function writingUserPath<T>(flag: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (systemErrorCode(err) === undefined) throw err;
    throw new CcmeshError(ErrorCode.OUTPUT_UNWRITABLE, `${flag} ${showPath(path)}: cannot write there: ${describeFailure(err, path)}`, { cause: err });
  }
}

/** Runs `fn`, which reads `path` given through `flag`; a system error becomes INPUT_UNREADABLE (exit 64). */
export async function readingUserPath<T>(flag: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (systemErrorCode(err) === undefined) throw err;
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `${flag} ${showPath(path)}: cannot read: ${describeFailure(err, path)}`, { cause: err });
  }
}

/** The path as typed when it is short printable text, else bounded and quoted. */
export function showPath(path: string): string {
  const q = quoteValue(path);
  return q === JSON.stringify(path) && !/\s/.test(path) ? path : q;
}

/** The system error in words, naming the path it concerned when that is not the user's path itself. */
function describeFailure(err: unknown, userPath: string): string {
  const e = err as NodeJS.ErrnoException;
  const at = typeof e.path === 'string' && resolve(e.path) !== resolve(userPath) && !/\.tmp$/.test(e.path) ? ` (at ${showPath(e.path)})` : '';
  return `${describeSystemError(err)}${at}`;
}
