/**
 * The embedded {@link Store} for one machine: one file per key in a single directory, each replaced atomically and
 * durably (temp + fsync + rename + directory fsync) so a crash at any point leaves the old entry or the new one.
 *
 * Layout of the directory:
 *   LOCK                      pid and boot id of the owning process (see lock-file.ts)
 *   <key with / as %2F>       one entry: header line + value (see entry-file.ts)
 *   .<name>.<pid>.<rand>.tmp  leftovers of a crashed write; removed at open
 *
 * Compare-and-swap is read-compare-write under a per-key in-process mutex; the directory lock keeps every other
 * process out, so that mutex is the whole story. Reads take no lock: rename makes each file change atomic.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import type { AtomicWriteStep } from '../../lib/fs/atomic-write.js';
import type { Logger } from '../../lib/log.js';
import { encodeEntryFile, parseEntryFile } from './entry-file.js';
import { assertExpectedRevision, assertKey, assertPrefix, assertValueSize, isValidKey } from './key.js';
import { KeyedMutex } from './keyed-mutex.js';
import { acquireDirLock } from './lock-file.js';
import type { DirLock } from './lock-file.js';
import type { CasResult, Store, StoreEntry, WatchListener } from './store.js';
import { WatchHub } from './watch-hub.js';
import { makeDirs } from '../../lib/fs/make-dirs.js';

/** Live handles for a {@link FileStore}. */
export interface FileStoreRuntime {
  readonly log?: Logger;
  /** Observes each step of every entry write; the crash test kills the process here. */
  readonly onWriteStep?: (step: AtomicWriteStep) => void;
}

const TEMP_FILE_RE = /^\..+\.tmp$/;

/** Name of the file holding `key`; keys never contain `%`, so the mapping is reversible. */
export function entryFileName(key: string): string {
  return key.replaceAll('/', '%2F');
}

/** The key stored in file `name`, or undefined when the file is not an entry (the lock, temporaries, strays). */
export function keyOfEntryFileName(name: string): string | undefined {
  const key = name.replaceAll('%2F', '/');
  return isValidKey(key) && entryFileName(key) === name ? key : undefined;
}

/** A {@link Store} persisted in a directory; open with {@link FileStore.open}. */
export class FileStore implements Store {
  readonly #dir: string;
  readonly #lock: DirLock;
  readonly #runtime: FileStoreRuntime;
  readonly #mutex = new KeyedMutex();
  readonly #hub: WatchHub;
  #closed = false;

  private constructor(dir: string, lock: DirLock, runtime: FileStoreRuntime) {
    this.#dir = dir;
    this.#lock = lock;
    this.#runtime = runtime;
    this.#hub = new WatchHub(runtime.log);
  }

  /** Opens (creating if needed) the store in `dir`: takes the directory lock, then removes crash leftovers. */
  static async open(dir: string, runtime: FileStoreRuntime = {}): Promise<FileStore> {
    await makeDirs(dir, 0o700);
    const lock = await acquireDirLock(dir, runtime.log);
    try {
      // Safe only now: with the lock held, no other process can have a write in flight here.
      const stale = (await readdir(dir)).filter((n) => TEMP_FILE_RE.test(n));
      for (const name of stale) await rm(join(dir, name), { force: true });
      if (stale.length > 0) runtime.log?.info('removed leftover store temporary files', { dir, count: stale.length });
    } catch (err) {
      await lock.release();
      throw new CcmeshError(ErrorCode.STORE_IO, `opening the store directory ${dir} failed: ${describeError(err)}`, { cause: err });
    }
    return new FileStore(dir, lock, runtime);
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.#assertOpen();
    assertKey(key);
    return this.#read(key);
  }

  async compareAndSwap(key: string, expected: number, value: Uint8Array): Promise<CasResult> {
    this.#assertOpen();
    assertKey(key);
    assertExpectedRevision(key, expected);
    assertValueSize(key, value);
    const bytes = new Uint8Array(value); // the caller may reuse its buffer while we wait for the mutex
    return this.#mutex.run(key, async () => {
      const cur = await this.#read(key);
      if ((cur?.revision ?? 0) !== expected) return { ok: false, current: cur };
      const entry: StoreEntry = { value: bytes, revision: expected + 1 };
      const path = join(this.#dir, entryFileName(key));
      try {
        await writeFileAtomic(path, encodeEntryFile(key, entry), 0o600, { onStep: this.#runtime.onWriteStep });
      } catch (err) {
        throw new CcmeshError(ErrorCode.STORE_IO, `writing store entry file ${path} failed: ${describeError(err)}`, { cause: err });
      }
      this.#hub.notify(key, { value: new Uint8Array(bytes), revision: entry.revision });
      return { ok: true, revision: entry.revision };
    });
  }

  async list(prefix: string): Promise<string[]> {
    this.#assertOpen();
    assertPrefix(prefix);
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      throw new CcmeshError(ErrorCode.STORE_IO, `listing the store directory ${this.#dir} failed: ${describeError(err)}`, { cause: err });
    }
    const keys: string[] = [];
    for (const name of names) {
      const key = keyOfEntryFileName(name);
      if (key !== undefined && key.startsWith(prefix)) keys.push(key);
    }
    return keys.sort();
  }

  watch(prefix: string, listener: WatchListener): () => void {
    this.#assertOpen();
    assertPrefix(prefix);
    return this.#hub.add(prefix, listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#mutex.idle();
    this.#hub.clear();
    await this.#lock.release();
  }

  async #read(key: string): Promise<StoreEntry | undefined> {
    const path = join(this.#dir, entryFileName(key));
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CcmeshError(ErrorCode.STORE_IO, `reading store entry file ${path} failed: ${describeError(err)}`, { cause: err });
    }
    return parseEntryFile(path, key, bytes);
  }

  #assertOpen(): void {
    if (this.#closed) throw new CcmeshError(ErrorCode.STORE_CLOSED, `the file store ${this.#dir} was used after close()`);
  }
}
