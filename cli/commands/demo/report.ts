/** The demo's output: numbered one-line steps with timings, detail lines under them, and the checks that failed. */
import type { CliIo } from '../../io.js';

/** Prints steps and collects failed checks. */
export class Report {
  readonly #io: CliIo;
  readonly #now: () => number;
  readonly #start: number;
  #last: number;
  #n = 0;
  readonly failures: string[] = [];

  constructor(io: CliIo, now: () => number = () => performance.now()) {
    this.#io = io;
    this.#now = now;
    this.#start = now();
    this.#last = this.#start;
  }

  /** Prints the next numbered step: total elapsed time, the step's own duration, the text, then `details`. */
  step(text: string, details: readonly string[] = []): void {
    const now = this.#now();
    const line = `${String(++this.#n).padStart(2)}. [${fmt(now - this.#start).padStart(6)} | ${fmt(now - this.#last).padStart(6)}] ${text}\n`;
    this.#last = now;
    this.#io.stdout(line + details.map((d) => `${' '.repeat(24)}${d}\n`).join(''));
  }

  /** Records a check: prints a failure line (with optional detail) when `ok` is false. Returns `ok`. */
  check(ok: boolean, what: string, detail?: string): boolean {
    if (!ok) {
      this.failures.push(what);
      this.#io.stdout(`    FAILED: ${what}\n${detail ? `${detail}\n` : ''}`);
    }
    return ok;
  }

  /** Milliseconds since the report started. */
  elapsedMs(): number {
    return this.#now() - this.#start;
  }
}

/** "412 ms" below a second, "1.24 s" above. */
export function fmt(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
