/**
 * A {@link Store} that reports the duration and outcome of every operation of the store it wraps, so one metric
 * covers every backend (file, etcd). Watch and close pass through untimed.
 */
import type { CasResult, Store, StoreEntry, WatchListener } from './store.js';

/** The timed operations (the metric's `op` label). */
export type ObservedOp = 'get' | 'compare_and_swap' | 'list';

/** Called once per operation with its duration in seconds and whether it resolved (a conflict resolves). */
export type StoreObserver = (op: ObservedOp, seconds: number, ok: boolean) => void;

/** Wraps `store` so that `observe` hears of every get, compare-and-swap and list. */
export function observedStore(store: Store, observe: StoreObserver): Store {
  const timed = async <T>(op: ObservedOp, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await run();
      observe(op, (performance.now() - started) / 1000, true);
      return result;
    } catch (err) {
      observe(op, (performance.now() - started) / 1000, false);
      throw err;
    }
  };
  return {
    get: (key: string): Promise<StoreEntry | undefined> => timed('get', () => store.get(key)),
    compareAndSwap: (key: string, expected: number, value: Uint8Array): Promise<CasResult> => timed('compare_and_swap', () => store.compareAndSwap(key, expected, value)),
    list: (prefix: string): Promise<string[]> => timed('list', () => store.list(prefix)),
    watch: (prefix: string, listener: WatchListener): (() => void) => store.watch(prefix, listener),
    close: (): Promise<void> => store.close(),
  };
}
