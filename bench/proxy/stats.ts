/** Reduces repeated runs to medians and ranges per (scenario, implementation), and ratios between implementations. */
import type { ProxyBenchData, ProxyRunRecord } from './run.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

/** Median and range of one figure over the repetitions. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** One (scenario, implementation) cell of the report. */
export interface ProxySummary {
  readonly scenario: string;
  readonly peer: string;
  readonly runs: number;
  /** The scenario's primary figure (req/s or MiB/s). */
  readonly primary: Spread;
  readonly reqPerSec: Spread;
  /** Median latencies over the runs, ms; p50/p99/p999 absent where the tool has no percentiles. */
  readonly latencyMs: { readonly mean: number; readonly p50?: number; readonly p99?: number; readonly p999?: number };
  readonly errors: number;
  readonly cpuSecondsPer10k?: Spread;
  /** Largest RSS seen per sidecar during the runs, bytes. */
  readonly rssLoad?: { readonly egress: number; readonly ingress: number };
}

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median and range. */
export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

function optionalMedian(xs: readonly (number | undefined)[]): number | undefined {
  const defined = xs.filter((x): x is number => x !== undefined);
  return defined.length === xs.length && defined.length > 0 ? median(defined) : undefined;
}

function summariseCell(scenario: Scenario, peer: string, runs: readonly ProxyRunRecord[]): ProxySummary {
  const ms = (us: number | undefined): number | undefined => (us === undefined ? undefined : us / 1000);
  const p50 = ms(optionalMedian(runs.map((r) => r.load.latencyUs.p50)));
  const p99 = ms(optionalMedian(runs.map((r) => r.load.latencyUs.p99)));
  const p999 = ms(optionalMedian(runs.map((r) => r.load.latencyUs.p999)));
  const cpu = runs.map((r) => r.cpuSecondsPer10k).filter((x): x is number => x !== undefined);
  const rssOf = (role: 'egress' | 'ingress'): number => Math.max(0, ...runs.flatMap((r) => r.sidecars.filter((s) => s.role === role).map((s) => s.rssMaxBytes)));
  const hasSidecars = runs.some((r) => r.sidecars.length > 0);
  return {
    scenario: scenario.id,
    peer,
    runs: runs.length,
    primary: spread(runs.map((r) => (scenario.primary === 'MiB/s' ? r.load.mibPerSec : r.load.reqPerSec))),
    reqPerSec: spread(runs.map((r) => r.load.reqPerSec)),
    latencyMs: {
      mean: median(runs.map((r) => r.load.latencyUs.mean)) / 1000,
      ...(p50 !== undefined ? { p50 } : {}),
      ...(p99 !== undefined ? { p99 } : {}),
      ...(p999 !== undefined ? { p999 } : {}),
    },
    errors: runs.reduce((a, r) => a + r.load.errors, 0),
    ...(cpu.length > 0 ? { cpuSecondsPer10k: spread(cpu) } : {}),
    ...(hasSidecars ? { rssLoad: { egress: rssOf('egress'), ingress: rssOf('ingress') } } : {}),
  };
}

/** One summary per (scenario, measured implementation) that has at least one completed run. */
export function summarise(data: ProxyBenchData, scenarios: readonly Scenario[] = SCENARIOS): ProxySummary[] {
  const out: ProxySummary[] = [];
  for (const scenario of scenarios) {
    for (const peer of data.peers) {
      const runs = data.runs.filter((r) => r.scenario === scenario.id && r.peer === peer.name);
      if (runs.length > 0) out.push(summariseCell(scenario, peer.name, runs));
    }
  }
  return out;
}

/** `a / b` of the primary medians, when both exist. */
export function ratio(summaries: readonly ProxySummary[], scenario: string, peer: string, reference: string): number | undefined {
  const a = summaries.find((s) => s.scenario === scenario && s.peer === peer);
  const b = summaries.find((s) => s.scenario === scenario && s.peer === reference);
  return a && b && b.primary.median > 0 ? a.primary.median / b.primary.median : undefined;
}
