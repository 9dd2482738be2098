/**
 * What docs/metrics.md and docs/alerts.yaml say, read the way the metric tests need it: the family tables, the
 * example PromQL queries (every ```promql block, one query per line, `#` lines are comments) and the metric names a
 * text mentions. Used by the metric tests only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../fixtures.js';

/** docs/metrics.md. */
export const METRICS_DOC = join(repoRoot, 'docs', 'metrics.md');
/** docs/alerts.yaml: the example alerting rules. */
export const ALERTS_FILE = join(repoRoot, 'docs', 'alerts.yaml');

/** The Grafana dashboard (docs/metrics.md links it). */
export const DASHBOARD_FILE = join(repoRoot, 'docs', 'grafana-dashboard.json');

/**
 * Every panel query of the dashboard, with Grafana's interval variables replaced by values that suit a Prometheus
 * scraping every second for a minute (`$__rate_interval` → 15s, `$__range` → 1h).
 */
export function dashboardQueries(json: string): { readonly panel: string; readonly query: string }[] {
  const dashboard = JSON.parse(json) as { panels: { title: string; targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, query: t.expr.replaceAll('$__rate_interval', '15s').replaceAll('$__range', '1h') })));
}

/** One row of a family table: `| \`name\` | type | \`label\`, … or — | meaning |`. */
export interface DocumentedFamily {
  readonly name: string;
  readonly type: string;
  /** Sorted. */
  readonly labels: readonly string[];
}

const ROW = /^\|\s*`((?:ccmesh|process|nodejs)_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|([^|]*)\|/;

/** Every family-table row of `markdown`; throws on a family documented twice (the tables must not disagree). */
export function documentedFamilies(markdown: string): DocumentedFamily[] {
  const rows: DocumentedFamily[] = [];
  for (const line of markdown.split('\n')) {
    const m = ROW.exec(line);
    if (!m) continue;
    if (rows.some((r) => r.name === m[1])) throw new Error(`docs/metrics.md documents ${m[1]} twice; expected one table row per family`);
    rows.push({ name: m[1]!, type: m[2]!, labels: [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!).sort() });
  }
  return rows;
}

/** The example queries: every non-empty, non-comment line of every ```promql block, with its line number. */
export function promqlQueries(markdown: string): { readonly query: string; readonly line: number }[] {
  const out: { query: string; line: number }[] = [];
  let inBlock = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^```promql\s*$/.test(text)) inBlock = true;
    else if (inBlock && /^```\s*$/.test(text)) inBlock = false;
    else if (inBlock && text.trim() !== '' && !text.trim().startsWith('#')) out.push({ query: text.trim(), line: i + 1 });
  });
  if (inBlock) throw new Error('docs/metrics.md: a ```promql block is not closed');
  return out;
}

/** Metric names (`ccmesh_…`) mentioned in `text`, deduplicated. */
export function mentionedMetrics(text: string): string[] {
  return [...new Set([...text.matchAll(/\b(?:ccmesh|process|nodejs)_[a-z0-9_]*[a-z0-9]\b/g)].map((m) => m[0]))];
}

/** Reads a docs file. */
export function readDoc(path: string): string {
  return readFileSync(path, 'utf8');
}
