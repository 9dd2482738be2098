/**
 * Prometheus registries. Every process builds its own {@link Registry}; the prom-client global registry is never
 * used, so two units in one test process never share or collide on metrics.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

/** Options for {@link createRegistry}. */
export interface RegistryOptions {
  /** Labels added to every series, e.g. `{ component: 'proxy' }`. Values must come from a closed set. */
  readonly defaultLabels?: Record<string, string>;
  /**
   * Add Node's process metrics (CPU, RSS, event-loop lag) under their standard names (`process_*`, `nodejs_*`), so
   * stock dashboards and alerts find them; the `component` default label tells the processes apart.
   */
  readonly processMetrics?: boolean;
}

/** Creates a fresh registry for one process or one unit under test. */
export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.defaultLabels) registry.setDefaultLabels(opts.defaultLabels);
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

export type { Registry };
