/**
 * Coalesces concurrent identical work: while a call for a key runs, later callers for the same key share its
 * promise instead of starting their own. Many connections verifying peers on one host at once would otherwise
 * each ask KDS for the same VCEK, and KDS throttles such bursts.
 */

/** Runs at most one task per key at a time. */
export class SingleFlight<T> {
  readonly #inFlight = new Map<string, Promise<T>>();

  /** Result of `task`, shared with every concurrent caller of the same `key`. */
  run(key: string, task: () => Promise<T>): Promise<T> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    // The entry is removed once settled, so a failure is not remembered: the next caller tries again.
    const p = Promise.resolve()
      .then(task)
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }

  /** Keys with a task in flight; for tests and diagnostics. */
  get size(): number {
    return this.#inFlight.size;
  }
}
