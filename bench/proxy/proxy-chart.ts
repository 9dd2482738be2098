/**
 * A dependency-free SVG chart of the proxy benchmark: one small panel per scenario (each on its own scale, since
 * handshake-bound and keep-alive figures differ by 100×), throughput on the top row with min–max whiskers and p99
 * latency (mean for HTTP/2) on the bottom row, one coloured bar per implementation.
 */
import { formatNumber } from './proxy-report.js';
import type { ProxyBenchData } from './run.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { type ProxySummary, summarise } from './stats.js';

const COLOURS: Readonly<Record<string, string>> = { direct: '#7f7f7f', haproxy: '#1f77b4', nginx: '#2ca02c', 'ccmesh-per-conn': '#ff9896', ccmesh: '#d62728', 'ccmesh-l7': '#9467bd' };
const EXTRA = ['#9467bd', '#8c564b', '#e377c2', '#17becf'];
const PANEL_W = 190;
const PANEL_H = 170;
const PAD = 12;
const TOP = 64;
const LEFT = 16;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function colourOf(peer: string, i: number): string {
  return COLOURS[peer] ?? EXTRA[i % EXTRA.length]!;
}

interface Bar {
  readonly peer: string;
  readonly value: number;
  readonly min?: number;
  readonly max?: number;
}

function panel(x: number, y: number, title: string, unit: string, bars: readonly Bar[], colours: ReadonlyMap<string, string>): string {
  const out: string[] = [`<g transform="translate(${x},${y})">`];
  out.push(`<rect width="${PANEL_W}" height="${PANEL_H}" fill="#fafafa" stroke="#ddd"/>`);
  out.push(`<text x="${PANEL_W / 2}" y="14" text-anchor="middle" font-size="10" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${PANEL_W / 2}" y="26" text-anchor="middle" font-size="9" fill="#555">${esc(unit)}</text>`);
  const plotTop = 44;
  const plotBottom = PANEL_H - 10;
  const h = plotBottom - plotTop;
  const top = Math.max(...bars.map((b) => b.max ?? b.value), 0);
  if (bars.length === 0 || top <= 0) {
    out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle" font-size="9" fill="#999">no data</text></g>`);
    return out.join('');
  }
  const slot = (PANEL_W - 2 * PAD) / bars.length;
  const bw = Math.min(36, slot * 0.7);
  bars.forEach((b, i) => {
    const cx = PAD + slot * i + slot / 2;
    const bh = (b.value / top) * h;
    out.push(`<rect x="${(cx - bw / 2).toFixed(1)}" y="${(plotBottom - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="${colours.get(b.peer) ?? '#000'}"><title>${esc(`${b.peer}: ${formatNumber(b.value)} ${unit}`)}</title></rect>`);
    if (b.min !== undefined && b.max !== undefined) {
      const y1 = plotBottom - (b.max / top) * h;
      const y2 = plotBottom - (b.min / top) * h;
      out.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y1.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#000" stroke-width="1"/>`);
    }
    out.push(`<text x="${cx.toFixed(1)}" y="${(plotBottom - bh - 3).toFixed(1)}" text-anchor="middle" font-size="8">${esc(formatNumber(b.value))}</text>`);
  });
  out.push(`<line x1="${PAD}" x2="${PANEL_W - PAD}" y1="${plotBottom}" y2="${plotBottom}" stroke="#999"/></g>`);
  return out.join('');
}

function latencyBar(s: ProxySummary): Bar {
  return { peer: s.peer, value: s.latencyMs.p99 ?? s.latencyMs.mean };
}

/** Renders the chart as a standalone SVG document. */
export function renderProxyChart(data: ProxyBenchData, subtitle: string, scenarios: readonly Scenario[] = SCENARIOS): string {
  const sums = summarise(data, scenarios);
  const measured = data.peers.filter((p) => p.state === 'measured').map((p) => p.name);
  const colours = new Map(measured.map((p, i) => [p, colourOf(p, i)]));
  const width = LEFT + scenarios.length * (PANEL_W + 8) + 8;
  const height = TOP + 2 * (PANEL_H + 24) + 16;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">client → egress sidecar → mTLS → ingress sidecar → server</text>`,
    `<text x="${LEFT}" y="36" font-size="10" fill="#555">${esc(subtitle)}</text>`,
  ];
  measured.forEach((p, i) => {
    const x = LEFT + i * 110;
    parts.push(`<rect x="${x}" y="44" width="10" height="10" fill="${colours.get(p)!}"/><text x="${x + 14}" y="53" font-size="10">${esc(p)}</text>`);
  });
  const skipped = data.peers.filter((p) => p.state !== 'measured').map((p) => `${p.name}: ${p.reason ?? p.state}`);
  if (skipped.length > 0) parts.push(`<text x="${LEFT + measured.length * 110}" y="53" font-size="9" fill="#a00">${esc(skipped.join('; ').slice(0, 160))}</text>`);
  parts.push(`<text x="4" y="${TOP + PANEL_H / 2}" font-size="10" transform="rotate(-90 8 ${TOP + PANEL_H / 2})" text-anchor="middle">throughput</text>`);
  parts.push(`<text x="4" y="${TOP + PANEL_H + 24 + PANEL_H / 2}" font-size="10" transform="rotate(-90 8 ${TOP + PANEL_H + 24 + PANEL_H / 2})" text-anchor="middle">latency</text>`);
  scenarios.forEach((sc, i) => {
    const x = LEFT + i * (PANEL_W + 8);
    const cells = measured.map((p) => sums.find((s) => s.scenario === sc.id && s.peer === p)).filter((s): s is ProxySummary => s !== undefined);
    parts.push(panel(x, TOP, sc.short, `${sc.primary}, median (whisker: range)`, cells.map((s) => ({ peer: s.peer, value: s.primary.median, min: s.primary.min, max: s.primary.max })), colours));
    parts.push(panel(x, TOP + PANEL_H + 24, sc.short, sc.percentiles ? 'p99 latency, ms (lower is better)' : 'mean latency, ms (no percentiles)', cells.map(latencyBar), colours));
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
