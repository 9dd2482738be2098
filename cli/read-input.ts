/** Reading user-named input files with bounded size and errors that name the flag and the path. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CcmeshError, describeError, ErrorCode } from '../lib/errors.js';

/** Largest single input file accepted (evidence, certificates, collateral are all far smaller). */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** Reads `path` given through `flag`; throws INPUT_UNREADABLE (exit 64) naming both. */
export async function readInput(flag: string, path: string): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_INPUT_BYTES) throw new Error(`${st.size} bytes is larger than the ${MAX_INPUT_BYTES}-byte limit`);
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `${flag} ${path}: cannot read (${describeError(err)})`, { cause: err });
  }
}

/** Reads every regular file directly inside `dir` (sorted by name) for `flag`. */
export async function readInputDir(flag: string, dir: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  let names: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    names = (await readdir(dir)).sort();
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `${flag} ${dir}: cannot read (${describeError(err)})`, { cause: err });
  }
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    out.push({ name, bytes: await readInput(flag, path) });
  }
  return out;
}
