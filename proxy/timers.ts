/**
 * Timers as a dependency, so the renewal loop and the credential poll can be driven by tests without waiting and
 * without monkeypatching globals. Production passes {@link systemTimers}; every timer is unref'd so none of them
 * alone keeps the process alive.
 */

/** A cancellable one-shot timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Schedules callbacks. */
export interface Timers {
  after(ms: number, fn: () => void): TimerHandle;
}

/** Node's timers, unref'd. */
export const systemTimers: Timers = {
  after(ms, fn) {
    // setTimeout caps at 2^31-1 ms; a longer wait (a leaf with a year of life) re-arms in steps.
    const MAX = 2_147_483_647;
    let t: NodeJS.Timeout;
    const arm = (left: number): void => {
      t = setTimeout(() => (left > MAX ? arm(left - MAX) : fn()), Math.min(left, MAX));
      t.unref();
    };
    arm(Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};
