/**
 * The credential timers: the leaf renewal and the trust refresh run as jobs of one loop. Each job keeps its own due
 * time — at most one armed timer per job, so a renewal the trust refresh pulls forward and the next poll don't
 * displace each other — and runs one at a time: a run asked for while one is in flight shares it. When a job runs
 * next is its own decision (the renewal re-arms from its new leaf or backs off, {@link backoffDelayMs}; the trust
 * refresh polls again one interval after each timed poll). One {@link CredentialScheduler.stop} ends the loop: every
 * timer cancelled, no job armed again, the runs in flight awaited. Timers and clock are injected so tests drive the
 * schedule; both jobs write the TLS directory only inside `CredentialStore.exclusive`.
 */
import type { Clock } from '../../lib/clock.js';
import type { TimerHandle, Timers } from '../timers.js';

/** Live handles of the scheduler. */
export interface SchedulerRuntime {
  readonly timers: Timers;
  readonly clock: Clock;
}

/** Exponential backoff: the first delay, doubled per further failure up to the longest. */
export interface Backoff {
  readonly firstMs: number;
  readonly maxMs: number;
}

/** The delay before retry number `failures` (1 = after the first failure): the backoff times a jitter in [0.5, 1.5). */
export function backoffDelayMs(failures: number, backoff: Backoff, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(failures - 1, 30));
  return base * (0.5 + random());
}

/** The loop: makes jobs, stops them all. */
export class CredentialScheduler {
  readonly #rt: SchedulerRuntime;
  readonly #jobs: ScheduledJob<unknown>[] = [];
  #stopped = false;

  constructor(rt: SchedulerRuntime) {
    this.#rt = rt;
  }

  /** True once {@link stop} was called: no job is armed again. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * A new job doing `run`. `afterTimedRun` is called when a run its own timer started has ended (not after runs asked
   * for with {@link ScheduledJob.runNow}).
   */
  job<T>(run: () => Promise<T>, afterTimedRun?: () => void): ScheduledJob<T> {
    const job = new ScheduledJob(run, this.#rt, () => this.#stopped, afterTimedRun);
    this.#jobs.push(job);
    return job;
  }

  /** Cancels every job's timer, arms none again, and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const job of this.#jobs) job.cancel();
    await Promise.all(this.#jobs.map((job) => job.inFlight()));
  }
}

/** One job of a {@link CredentialScheduler}: its timer, its due time and its run in flight. */
export class ScheduledJob<T> {
  readonly #run: () => Promise<T>;
  readonly #rt: SchedulerRuntime;
  readonly #stopped: () => boolean;
  readonly #afterTimedRun: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #dueAtMs = Number.POSITIVE_INFINITY;
  #running: Promise<T> | undefined;

  constructor(run: () => Promise<T>, rt: SchedulerRuntime, stopped: () => boolean, afterTimedRun: (() => void) | undefined) {
    this.#run = run;
    this.#rt = rt;
    this.#stopped = stopped;
    this.#afterTimedRun = afterTimedRun;
  }

  /** True once the scheduler stopped. */
  get stopped(): boolean {
    return this.#stopped();
  }

  /** When the armed timer fires (clock time), or +∞ when none is armed. */
  get dueAtMs(): number {
    return this.#timer === undefined ? Number.POSITIVE_INFINITY : this.#dueAtMs;
  }

  /** Runs now (also what the timer calls); a call while a run is in flight gets that run's result. */
  runNow(): Promise<T> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Arms the timer `delayMs` from now, replacing an armed one; nothing once the scheduler stopped. */
  runIn(delayMs: number): void {
    if (this.#stopped()) return;
    this.#timer?.cancel();
    this.#dueAtMs = this.#rt.clock.nowMs() + delayMs;
    this.#timer = this.#rt.timers.after(delayMs, () => {
      this.#timer = undefined;
      this.#dueAtMs = Number.POSITIVE_INFINITY;
      const run = this.runNow();
      if (this.#afterTimedRun) void run.finally(this.#afterTimedRun);
    });
  }

  /** Moves the next run to at most `delayMs` from now; an armed run due sooner (or as soon) is left alone. */
  runWithin(delayMs: number): void {
    if (this.#stopped()) return;
    const delay = Math.max(0, delayMs);
    if (this.#rt.clock.nowMs() + delay >= this.dueAtMs) return;
    this.runIn(delay);
  }

  /** Cancels the armed timer. */
  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#dueAtMs = Number.POSITIVE_INFINITY;
  }

  /** The run in flight (resolved at once when there is none). */
  inFlight(): Promise<unknown> {
    return this.#running ?? Promise.resolve();
  }
}
