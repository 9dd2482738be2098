/**
 * Re-verifies the rules on an interval (docs/design.md §4.2). On drift it installs the guard FIRST and then reports unready
 * through `onUnready` (the proxy wires that to /ready). It never lifts the guard itself: getting back to ready means
 * re-applying, verifying and lifting — the sidecar's startup path, not a timer's decision. `onRecovered` only says
 * that a later check found the rules intact again. A failing check (a tool error) counts as drift: fail closed.
 */
import { describeError } from '../lib/errors.js';
import type { VerifyReport } from './verify.js';

/** setTimeout/clearTimeout as a dependency, so tests drive the interval by hand. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What the watchdog needs. */
export interface WatchdogRuntime {
  /** Reads the kernel back and compares with the plan. */
  readonly verify: () => Promise<VerifyReport>;
  /** Installs the fail-closed guard (idempotent). */
  readonly installGuard: () => Promise<void>;
  /** Drift seen (called on every drifted check while it lasts, after the guard went in). */
  readonly onUnready: (report: VerifyReport) => void;
  /** A check found the rules intact after drift. */
  readonly onRecovered?: () => void;
  /** The guard itself could not be installed; the pod may be open. Loud by design. */
  readonly onGuardFailed?: (err: unknown) => void;
  readonly intervalMs: number;
  readonly signal: AbortSignal;
  readonly timers?: Timers;
}

/** A running watchdog. */
export interface Watchdog {
  /** Runs one check now (also what the timer calls); resolves when it is done. */
  check(): Promise<void>;
  /** Resolves when the watchdog stopped (signal aborted). */
  readonly done: Promise<void>;
}

/** The report used when verification itself failed. */
function failedReport(err: unknown): VerifyReport {
  return { ok: false, missing: [{ family: 'v4', table: 'verify', chain: 'error', rule: describeError(err) }], extra: [], changed: [] };
}

/** Starts the watchdog; the first check runs after one interval (startup verified just before). */
export function startWatchdog(rt: WatchdogRuntime): Watchdog {
  const timers = rt.timers ?? systemTimers;
  let handle: unknown;
  let drifted = false;
  let running: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const once = async (): Promise<void> => {
    let report: VerifyReport;
    try {
      report = await rt.verify();
    } catch (err) {
      report = failedReport(err);
    }
    if (report.ok) {
      if (drifted) {
        drifted = false;
        rt.onRecovered?.();
      }
      return;
    }
    drifted = true;
    try {
      await rt.installGuard();
    } catch (err) {
      rt.onGuardFailed?.(err);
    }
    rt.onUnready(report);
  };

  const check = (): Promise<void> => {
    running ??= once().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (): void => {
    if (rt.signal.aborted) return;
    handle = timers.setTimeout(() => {
      void check().then(schedule);
    }, rt.intervalMs);
  };

  const stop = (): void => {
    timers.clearTimeout(handle);
    void (running ?? Promise.resolve()).then(resolveDone);
  };
  if (rt.signal.aborted) stop();
  else {
    rt.signal.addEventListener('abort', stop, { once: true });
    schedule();
  }
  return { check, done };
}
