/** Reading user-named input files with bounded size and errors that name the flag and the path. */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CcmeshError, describeError, describeSystemError, ErrorCode } from '../lib/errors.js';
import { showPath } from './user-paths.js';

/** Largest single input file accepted (evidence, certificates, collateral are all far smaller). */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** Reads `path` given through `flag`; throws INPUT_UNREADABLE (exit 64) naming both. */
export async function readInput(flag: string, path: string): Promise<Uint8Array> {
  try {
    return await readBoundedFile(path);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `${flag} ${showPath(path)}: cannot read (${describeSystemError(err)})`, { cause: err });
  }
}

/**
 * Reads a regular file of at most {@link MAX_INPUT_BYTES}; throws a plain error otherwise (the caller names the
 * flag). The size is checked on the open file, and the read stops at the limit, so a file that grows meanwhile or
 * a FIFO cannot make it read more.
 */
export async function readBoundedFile(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_INPUT_BYTES) throw new Error(`${st.size} bytes is larger than the ${MAX_INPUT_BYTES}-byte limit`);
    // One byte more than the size seen: reading it means the file grew while being read.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > st.size) throw new Error('the file grew while it was read');
    return new Uint8Array(buf.subarray(0, n));
  } finally {
    await fh.close();
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
