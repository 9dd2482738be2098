/**
 * The listeners of one store, by prefix. Shared by the in-process backends so both deliver the same way: after
 * the change is committed, in commit order, and a throwing listener neither breaks the writer nor starves the
 * other listeners.
 */
import type { Logger } from '../../lib/log.js';
import { describeError } from '../../lib/errors.js';
import type { StoreEntry, WatchListener } from './store.js';

/** Registry of prefix watchers with isolated, synchronous delivery. */
export class WatchHub {
  readonly #watchers = new Set<{ readonly prefix: string; readonly listener: WatchListener }>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  /** Adds a watcher; the returned function removes it (idempotently). */
  add(prefix: string, listener: WatchListener): () => void {
    const w = { prefix, listener };
    this.#watchers.add(w);
    return () => {
      this.#watchers.delete(w);
    };
  }

  /** Tells every watcher whose prefix matches `key` about its new entry. */
  notify(key: string, entry: StoreEntry | undefined): void {
    // Copy first: a listener may unsubscribe itself or others while we iterate.
    for (const w of [...this.#watchers]) {
      if (!key.startsWith(w.prefix) || !this.#watchers.has(w)) continue;
      try {
        w.listener(key, entry);
      } catch (err) {
        this.#log?.warn('store watch listener threw', { key, error: describeError(err) });
      }
    }
  }

  /** Drops every watcher. */
  clear(): void {
    this.#watchers.clear();
  }
}
