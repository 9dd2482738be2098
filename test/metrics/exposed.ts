/**
 * What a prom-client registry exposes, in the shape of the golden list: family name → type and label names, and
 * every sample's labels checked against the golden value rules. Used by the metric tests only.
 */
import type { Registry } from 'prom-client';
import { allowedValue, COMPONENT_LABEL, type GoldenFamilies } from './golden-families.js';

/** One family as a registry exposes it. */
export interface ExposedFamily {
  readonly type: string;
  /** Sorted. */
  readonly labels: readonly string[];
}

/** Families of `registry` by name, with their type and (sorted) label names. */
export async function exposedFamilies(registry: Registry): Promise<Record<string, ExposedFamily>> {
  const out: Record<string, ExposedFamily> = {};
  for (const m of await registry.getMetricsAsJSON()) {
    // prom-client keeps the configured label names on the metric object; its typings leave them out.
    const labelNames = (registry.getSingleMetric(m.name) as unknown as { labelNames?: unknown } | undefined)?.labelNames;
    if (!Array.isArray(labelNames)) throw new Error(`metric ${m.name}: expected prom-client's labelNames array on the metric object, got ${typeof labelNames}`);
    out[m.name] = { type: String(m.type), labels: labelNames.map(String).sort() };
  }
  return out;
}

/** The golden families in the shape {@link exposedFamilies} returns. */
export function expectedFamilies(...sets: GoldenFamilies[]): Record<string, ExposedFamily> {
  const out: Record<string, ExposedFamily> = {};
  for (const set of sets) for (const [name, f] of Object.entries(set)) out[name] = { type: f.type, labels: Object.keys(f.labels).sort() };
  return out;
}

/**
 * Problems with the samples `registry` exposes now: a sample without `component="<component>"`, a label the golden
 * family does not name, or a value outside the label's golden rule. Empty when every sample fits.
 */
export async function sampleProblems(registry: Registry, component: string, golden: GoldenFamilies): Promise<string[]> {
  const problems: string[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const family = golden[m.name];
    if (family === undefined) {
      problems.push(`${m.name}: not a golden family`);
      continue;
    }
    for (const v of m.values) {
      const labels = v.labels as Record<string, string | number | undefined>;
      const where = `${m.name}${JSON.stringify(labels)}`;
      if (labels[COMPONENT_LABEL] !== component) problems.push(`${where}: expected ${COMPONENT_LABEL}="${component}"`);
      for (const [name, value] of Object.entries(labels)) {
        if (name === COMPONENT_LABEL || (name === 'le' && family.type === 'histogram')) continue;
        const rule = family.labels[name];
        if (rule === undefined) problems.push(`${where}: label "${name}" is not one of the family's golden labels`);
        else if (!allowedValue(rule, String(value))) problems.push(`${where}: value ${JSON.stringify(value)} of "${name}" is outside its golden values`);
      }
    }
  }
  return problems;
}
