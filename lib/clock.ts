/**
 * Time as a dependency. Verification of evidence and collateral depends on "now"; tests pin it to the instant a
 * sample was valid, and production passes {@link systemClock}. Nothing below an entry point calls `Date.now()`
 * for a security decision.
 */

/** A source of the current time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The wall clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that stands still at a given instant until moved; for tests and for `--at`. */
export class FixedClock implements Clock {
  #ms: number;

  constructor(at: Date | number) {
    this.#ms = typeof at === 'number' ? at : at.getTime();
  }

  nowMs(): number {
    return this.#ms;
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** The current instant of `clock` as a Date. */
export function nowDate(clock: Clock): Date {
  return new Date(clock.nowMs());
}
