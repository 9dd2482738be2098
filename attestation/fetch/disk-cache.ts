/**
 * A directory of small files written atomically. A reader sees either the old file or the complete new one:
 * data goes to a temporary file in the same directory, is fsynced, renamed over the target, and the directory
 * is fsynced so the rename survives a crash. The directory is private (0700) and files are 0600: collateral is
 * public, but a cache that other users can write to is a cache they can fill.
 */
import { chmod, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import { makeDirs } from '../../lib/fs/make-dirs.js';

/** Mode of the cache directory. */
export const CACHE_DIR_MODE = 0o700;
/** Mode of cache files. */
export const CACHE_FILE_MODE = 0o600;
/** Files larger than this are not read; no collateral response comes close. */
export const MAX_CACHE_FILE_BYTES = 8 * 1024 * 1024;

/** File names are ours (a kind and a hex digest); anything else would be a bug. */
const SAFE_NAME = /^[a-z0-9-]+\.[a-z]+$/;

/** A private directory of atomically replaced files. */
export class DiskCache {
  readonly dir: string;
  #ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory (0700) if needed and tightens a pre-existing one; memoised, retried after failure. */
  ensureDir(): Promise<void> {
    this.#ready ??= prepareDir(this.dir).catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  /** Contents of `name`, or undefined when it does not exist or is too large to be ours. */
  async read(name: string): Promise<Uint8Array | undefined> {
    let fh;
    try {
      fh = await open(this.#path(name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_CACHE_FILE_BYTES) return undefined;
      return new Uint8Array(await fh.readFile());
    } finally {
      await fh.close();
    }
  }

  /** Replaces `name` with `data` atomically and durably. */
  async write(name: string, data: Uint8Array): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.#path(name), data, CACHE_FILE_MODE);
  }

  /** Removes `name` if present. */
  async remove(name: string): Promise<void> {
    await rm(this.#path(name), { force: true });
  }

  #path(name: string): string {
    if (!SAFE_NAME.test(name)) throw new Error(`unsafe cache file name ${JSON.stringify(name)}`);
    return join(this.dir, name);
  }
}

async function prepareDir(dir: string): Promise<void> {
  await makeDirs(dir, CACHE_DIR_MODE);
  const st = await stat(dir);
  if (!st.isDirectory()) throw new Error(`collateral cache path ${dir} is not a directory`);
  // A directory someone else owns (say, planted in a shared /tmp) is one they can fill; refuse it.
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new Error(`collateral cache directory ${dir} is owned by uid ${st.uid}, not by this process`);
  }
  // mkdir leaves an existing directory's mode alone.
  if ((st.mode & 0o777) !== CACHE_DIR_MODE) await chmod(dir, CACHE_DIR_MODE);
}
