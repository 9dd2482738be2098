/**
 * Metrics of collateral fetching. Families live on the caller's registry (never prom-client's global one) and
 * children are bound once here, so an attempt costs a map lookup. Several sources may share one registry: the
 * families are registered on first use and reused after.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** How one HTTP attempt ended; a closed set of label values. */
export type FetchResult = 'ok' | 'http_error' | 'throttled' | 'network_error' | 'timeout' | 'too_large' | 'aborted';

/** Vendor service label values. */
export type FetchSource = 'amd_kds' | 'intel_pcs';

const RESULTS: readonly FetchResult[] = ['ok', 'http_error', 'throttled', 'network_error', 'timeout', 'too_large', 'aborted'];
const SOURCES: readonly FetchSource[] = ['amd_kds', 'intel_pcs'];

const TOTAL = 'ccmesh_attest_collateral_fetch_total';
const SECONDS = 'ccmesh_attest_collateral_fetch_seconds';

/** Pre-bound metric children for collateral fetching. */
export interface FetchMetrics {
  /** Records one HTTP attempt (retries count separately) and its duration. */
  observe(source: FetchSource, result: FetchResult, seconds: number): void;
}

function existing<T>(registry: Registry, name: string, ctor: abstract new (...args: never[]) => T): T | undefined {
  const m = registry.getSingleMetric(name);
  return m instanceof ctor ? m : undefined;
}

/** Registers (or reuses) the fetch metric families on `registry` and binds their children. */
export function buildFetchMetrics(registry: Registry): FetchMetrics {
  const total =
    existing(registry, TOTAL, Counter) ??
    new Counter({
      name: TOTAL,
      help: 'HTTP attempts to fetch attestation collateral, by vendor service and outcome (each retry counts).',
      labelNames: ['source', 'result'] as const,
      registers: [registry],
    });
  const seconds =
    existing(registry, SECONDS, Histogram) ??
    new Histogram({
      name: SECONDS,
      help: 'Duration of one HTTP attempt to fetch attestation collateral, headers and body.',
      labelNames: ['source'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  const counters = new Map<string, Counter.Internal>();
  const timers = new Map<FetchSource, Histogram.Internal<'source'>>();
  for (const source of SOURCES) {
    timers.set(source, seconds.labels(source));
    for (const result of RESULTS) counters.set(`${source}/${result}`, total.labels(source, result));
  }
  return {
    observe(source, result, s) {
      counters.get(`${source}/${result}`)?.inc();
      timers.get(source)?.observe(s);
    },
  };
}
