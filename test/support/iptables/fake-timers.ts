/** Watchdog timers fired by hand, for the iptables and capture-hook tests. Used by tests only. */
import type { Timers } from '../../../iptables/watchdog.js';

/** Keeps every scheduled check; `tick` runs the due ones and waits until the watchdog re-armed (the check is done). */
export class FakeWatchdogTimers implements Timers {
  pending: (() => void)[] = [];

  setTimeout(fn: () => void): unknown {
    this.pending.push(fn);
    return fn;
  }

  clearTimeout(h: unknown): void {
    this.pending = this.pending.filter((f) => f !== h);
  }

  async tick(): Promise<void> {
    for (const f of this.pending.splice(0)) f();
    for (let i = 0; i < 1000 && this.pending.length === 0; i++) await new Promise((r) => setImmediate(r));
  }
}
