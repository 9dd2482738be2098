/**
 * The proxy benchmark's Markdown: the comparison table (figures as median with range), the headline ratios to
 * HAProxy and to direct, and the cost of each sidecar per scenario. Pure: data in, text out.
 */
import type { ProxyBenchData } from './run.js';
import { COST_SCENARIO, SCENARIOS, type Scenario } from './scenarios.js';
import { ratio, type ProxySummary, summarise } from './stats.js';

/** Tool versions and placement printed above the tables. */
export interface ProxyReportContext {
  readonly versions: Readonly<Record<string, string>>;
  readonly pinned: boolean;
}

const MB = 1_000_000;

/** Groups thousands with a space, as docs/design.md §7 does; small figures keep some decimals. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 100) return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function spreadText(s: { median: number; min: number; max: number }): string {
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
}

function latencyText(s: ProxySummary): string {
  const l = s.latencyMs;
  return l.p99 !== undefined ? `${formatNumber(l.p50 ?? Number.NaN)} / ${formatNumber(l.p99)} / ${formatNumber(l.p999 ?? Number.NaN)}` : `${formatNumber(l.mean)} (mean)`;
}

function placeholder(data: ProxyBenchData, peer: string): string {
  const st = data.peers.find((p) => p.name === peer)?.state;
  return st === 'skipped' ? 'skipped' : st === 'failed' ? 'failed' : '—';
}

/** Renders the whole proxy section. */
export function renderProxyMarkdown(data: ProxyBenchData, ctx: ProxyReportContext, scenarios: readonly Scenario[] = SCENARIOS): string {
  const sums = summarise(data, scenarios);
  const peers = data.peers.map((p) => p.name);
  const cell = (scenario: string, peer: string, f: (s: ProxySummary) => string): string => {
    const s = sums.find((x) => x.scenario === scenario && x.peer === peer);
    if (!s) return placeholder(data, peer);
    return f(s) + (s.errors > 0 ? ` ⚠ ${s.errors} errors` : '');
  };
  const row = (label: string, f: (peer: string) => string): string => `| ${label} | ${peers.map(f).join(' | ')} |`;
  const st = data.settings;

  const lines: string[] = [];
  lines.push(
    `Each figure: median of ${st.repetitions} runs of ${st.seconds} s (range in parentheses) after a ${st.warmupSeconds} s warm-up per implementation; ` +
      `implementations alternate run by run. ${ctx.pinned ? `App server and sidecars pinned to CPU ${st.serverCpus ?? '?'}, load generator to CPU ${st.loadCpus ?? '?'} (taskset).` : 'Not pinned (taskset missing or one CPU).'} ` +
      'Sidecars: one thread/worker each, TLS 1.3, ECDSA P-256, client certs from one mesh CA, session resumption at the products\' defaults.',
    '',
    `Versions: ${Object.entries(ctx.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
  );
  const oneLine = (s: string): string => s.replace(/\s*\n[\s\S]*$/, '').slice(0, 300);
  for (const p of data.peers) if (p.state !== 'measured') lines.push(`- ${p.name}: ${oneLine(p.reason ?? p.state)}`);
  for (const f of data.failures) lines.push(`- ${f.peer} / ${f.scenario}: a run failed — ${oneLine(f.reason)}`);
  if (data.peers.some((p) => p.state !== 'measured') || data.failures.length > 0) lines.push('');

  lines.push(`| scenario | ${peers.join(' | ')} |`, `|---|${peers.map(() => '---:').join('|')}|`);
  for (const sc of scenarios) {
    lines.push(row(`${sc.title} (${sc.primary})`, (p) => cell(sc.id, p, (s) => spreadText(s.primary))));
    if (sc.rate !== undefined) continue;
    lines.push(row(sc.percentiles ? 'same, p50 / p99 / p99.9 latency (ms)' : 'same, latency (ms; h2load gives no percentiles)', (p) => cell(sc.id, p, latencyText)));
  }
  for (const sc of scenarios.filter((s) => s.rate !== undefined)) {
    lines.push(row('same, p50 / p99 / p99.9 latency (ms)', (p) => cell(sc.id, p, latencyText)));
  }
  const costScenario = scenarios.find((s) => s.id === COST_SCENARIO);
  if (costScenario) {
    lines.push(row(`sidecar CPU s per 10 000 requests, ${costScenario.title} (both sidecars)`, (p) => cell(COST_SCENARIO, p, (s) => (s.cpuSecondsPer10k ? spreadText(s.cpuSecondsPer10k) : '—'))));
  }
  lines.push(row('sidecar RSS idle (MB, egress / ingress)', (p) => {
    const idle = data.peers.find((x) => x.name === p)?.idleRss;
    return idle ? `${formatNumber(idle.egress / MB)} / ${formatNumber(idle.ingress / MB)}` : placeholder(data, p);
  }));
  const opened = data.peers.map((p) => p.openRss?.connections).find((n) => n !== undefined);
  lines.push(row(`sidecar RSS with ${opened !== undefined ? formatNumber(opened) : 'N'} open idle connections, fresh pair (MB, egress / ingress; KB per connection)`, (p) => {
    const o = data.peers.find((x) => x.name === p)?.openRss;
    if (!o) return placeholder(data, p);
    const per = (open: number, idle: number): string => (o.connections > 0 ? formatNumber((open - idle) / o.connections / 1000) : '—');
    return `${formatNumber(o.egress / MB)} / ${formatNumber(o.ingress / MB)} (${per(o.egress, o.idle.egress)} / ${per(o.ingress, o.idle.ingress)} KB)` +
      (o.failed > 0 ? ` ⚠ ${o.failed} failed to open` : '');
  }));
  lines.push(row('sidecar RSS under load (MB, min–max over sidecars and scenarios)', (p) => {
    const all = sums.filter((s) => s.peer === p && s.rssLoad).flatMap((s) => [s.rssLoad!.egress, s.rssLoad!.ingress]);
    return all.length > 0 ? `${formatNumber(Math.min(...all) / MB)}–${formatNumber(Math.max(...all) / MB)}` : placeholder(data, p);
  }));
  lines.push('');

  const proxied = peers.filter((p) => p !== 'direct');
  lines.push('Headline ratios (median of the primary figure; > 1 is faster than the reference):', '');
  lines.push(`| scenario | ${proxied.join(' | ')} |`, `|---|${proxied.map(() => '---:').join('|')}|`);
  for (const sc of scenarios) {
    const ratios = proxied.map((p) => {
      const d = ratio(sums, sc.id, p, 'direct');
      const h = p === 'haproxy' ? undefined : ratio(sums, sc.id, p, 'haproxy');
      if (d === undefined && h === undefined) return placeholder(data, p);
      return [d !== undefined ? `${d.toFixed(2)}× direct` : '', h !== undefined ? `${h.toFixed(2)}× HAProxy` : ''].filter(Boolean).join(' · ');
    });
    lines.push(`| ${sc.title} | ${ratios.join(' | ')} |`);
  }
  lines.push('');

  lines.push('Sidecar cost per scenario (CPU s per 10 000 requests, both sidecars · peak RSS MB egress / ingress):', '');
  lines.push(`| scenario | ${proxied.join(' | ')} |`, `|---|${proxied.map(() => '---:').join('|')}|`);
  for (const sc of scenarios) {
    lines.push(`| ${sc.title} | ${proxied.map((p) => cell(sc.id, p, (s) =>
      `${s.cpuSecondsPer10k ? formatNumber(s.cpuSecondsPer10k.median) : '—'} s · ${s.rssLoad ? `${formatNumber(s.rssLoad.egress / MB)} / ${formatNumber(s.rssLoad.ingress / MB)}` : '—'} MB`)).join(' | ')} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** JSON lines for the proxy benchmark: implementation states, every run, and every summary cell. */
export function renderProxyJsonLines(data: ProxyBenchData, scenarios: readonly Scenario[] = SCENARIOS): string {
  const lines = [
    JSON.stringify({ type: 'proxy-settings', ...data.settings }),
    ...data.peers.map((p) => JSON.stringify({ type: 'proxy-peer', ...p })),
    ...data.runs.map((r) => JSON.stringify({ type: 'proxy-run', ...r })),
    ...data.failures.map((f) => JSON.stringify({ type: 'proxy-failure', ...f })),
    ...summarise(data, scenarios).map((s) => JSON.stringify({ type: 'proxy-summary', ...s })),
  ];
  return lines.join('\n') + '\n';
}
