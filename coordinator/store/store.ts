/**
 * The Coordinator's state store: a small key-value map with per-key revisions, compare-and-swap and watch. The
 * shape is etcd's (mod_revision, Txn compare on it, Watch on a prefix) so the replicated backend of a later issue
 * slots in behind the same interface; the embedded {@link FileStore} and the test {@link MemoryStore} honour the
 * same contract.
 */

/** One stored value and the revision at which it was last written. */
export interface StoreEntry {
  readonly value: Uint8Array;
  /** > 0; strictly increases on every change of this key. Compare only with revisions of the same key. */
  readonly revision: number;
}

/** Outcome of {@link Store.compareAndSwap}: the new revision, or what the key holds instead of the expectation. */
export type CasResult = { ok: true; revision: number } | { ok: false; current: StoreEntry | undefined };

/** Receives every change under a watched prefix; `entry` undefined means the key was removed. */
export type WatchListener = (key: string, entry: StoreEntry | undefined) => void;

/** A revisioned key-value store with compare-and-swap and prefix watch. */
export interface Store {
  /** The key's current entry, or undefined when it does not exist. */
  get(key: string): Promise<StoreEntry | undefined>;
  /** Writes only if the key's current revision equals `expected` (0 = the key must not exist). */
  compareAndSwap(key: string, expected: number, value: Uint8Array): Promise<CasResult>;
  /** Keys starting with `prefix` (a plain string prefix: end it with `/` to list one folder), sorted. */
  list(prefix: string): Promise<string[]>;
  /** Calls `listener` after each committed change of a key starting with `prefix`; returns the unsubscribe. */
  watch(prefix: string, listener: WatchListener): () => void;
  /** Waits for writes in flight, drops all watchers and releases the backend; later calls fail with STORE_CLOSED. */
  close(): Promise<void>;
}

/**
 * Largest value any backend accepts. etcd refuses requests above 1.5 MiB by default; staying under it here means
 * nothing that works on the embedded store breaks after moving to etcd.
 */
export const MAX_VALUE_BYTES = 1024 * 1024;
