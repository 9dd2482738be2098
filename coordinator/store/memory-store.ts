/**
 * An in-memory {@link Store} with the full contract (revisions, compare-and-swap, watch, close), for unit tests
 * of everything built on the store. Values are copied in and out so callers cannot alias stored bytes.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { assertExpectedRevision, assertKey, assertPrefix, assertValueSize } from './key.js';
import type { CasResult, Store, StoreEntry, WatchListener } from './store.js';
import { WatchHub } from './watch-hub.js';

/** A {@link Store} held in a Map; nothing survives the process. */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, StoreEntry>();
  readonly #hub: WatchHub;
  #closed = false;

  constructor(log?: Logger) {
    this.#hub = new WatchHub(log);
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.#assertOpen();
    assertKey(key);
    const e = this.#entries.get(key);
    return e === undefined ? undefined : copyEntry(e);
  }

  async compareAndSwap(key: string, expected: number, value: Uint8Array): Promise<CasResult> {
    this.#assertOpen();
    assertKey(key);
    assertExpectedRevision(key, expected);
    assertValueSize(key, value);
    // Synchronous from check to set, so no other call can interleave: the JavaScript event loop is the mutex.
    const cur = this.#entries.get(key);
    if ((cur?.revision ?? 0) !== expected) return { ok: false, current: cur === undefined ? undefined : copyEntry(cur) };
    const entry: StoreEntry = { value: new Uint8Array(value), revision: expected + 1 };
    this.#entries.set(key, entry);
    this.#hub.notify(key, copyEntry(entry));
    return { ok: true, revision: entry.revision };
  }

  async list(prefix: string): Promise<string[]> {
    this.#assertOpen();
    assertPrefix(prefix);
    return [...this.#entries.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  watch(prefix: string, listener: WatchListener): () => void {
    this.#assertOpen();
    assertPrefix(prefix);
    return this.#hub.add(prefix, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#hub.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new CcmeshError(ErrorCode.STORE_CLOSED, 'the memory store was used after close()');
  }
}

function copyEntry(e: StoreEntry): StoreEntry {
  return { value: new Uint8Array(e.value), revision: e.revision };
}
