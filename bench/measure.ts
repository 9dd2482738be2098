/**
 * Timing primitives for micro-benchmarks: warm up, then run repeated bounded timed rounds and report the median and
 * range of operations per second. Each round measures wall time and this process's CPU time.
 */
import { cpuUsage } from 'node:process';

/** One measured scenario. */
export interface Measurement {
  readonly suite: string;
  readonly scenario: string;
  readonly unit: 'ops/s';
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly rounds: number;
  /** Microseconds of CPU (user + system) per operation, median over rounds. */
  readonly cpuMicrosPerOp: number;
  readonly notes?: string;
}

/** Options for {@link measureOps}. */
export interface MeasureOptions {
  readonly warmupMs: number;
  readonly roundMs: number;
  readonly rounds: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `op` synchronously in timed rounds; `op` must do one unit of work per call. */
export function measureOps(suite: string, scenario: string, op: () => void, opts: MeasureOptions, notes?: string): Measurement {
  const deadline = performance.now() + opts.warmupMs;
  while (performance.now() < deadline) op();
  const rounds: { rate: number; cpu: number }[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const cpu0 = cpuUsage();
    const t0 = performance.now();
    let n = 0;
    let t = t0;
    while (t - t0 < opts.roundMs) {
      for (let i = 0; i < 16; i++) op();
      n += 16;
      t = performance.now();
    }
    rounds.push(roundOf(n, t - t0, cpuUsage(cpu0)));
  }
  return summarise(suite, scenario, rounds, opts, notes);
}

/** Like {@link measureOps} for an asynchronous operation, awaited one at a time (latency-bound throughput). */
export async function measureAsyncOps(suite: string, scenario: string, op: () => Promise<unknown>, opts: MeasureOptions, notes?: string): Promise<Measurement> {
  const deadline = performance.now() + opts.warmupMs;
  while (performance.now() < deadline) await op();
  const rounds: { rate: number; cpu: number }[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const cpu0 = cpuUsage();
    const t0 = performance.now();
    let n = 0;
    let t = t0;
    while (t - t0 < opts.roundMs) {
      await op();
      n++;
      t = performance.now();
    }
    rounds.push(roundOf(n, t - t0, cpuUsage(cpu0)));
  }
  return summarise(suite, scenario, rounds, opts, notes);
}

function roundOf(n: number, ms: number, cpu: NodeJS.CpuUsage): { rate: number; cpu: number } {
  return { rate: (n * 1000) / ms, cpu: (cpu.user + cpu.system) / n };
}

function summarise(suite: string, scenario: string, rounds: readonly { rate: number; cpu: number }[], opts: MeasureOptions, notes?: string): Measurement {
  const rates = rounds.map((r) => r.rate);
  const cpus = rounds.map((r) => r.cpu);
  return {
    suite,
    scenario,
    unit: 'ops/s',
    median: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    rounds: opts.rounds,
    cpuMicrosPerOp: median(cpus),
    ...(notes ? { notes } : {}),
  };
}
