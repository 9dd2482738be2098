/** The proxy report (Markdown and SVG) rendered from a recorded quick run (bench/testdata/proxy-quick-run.jsonl). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CCMESH_NOT_BUILT } from '../peers/ccmesh.js';
import { renderProxyChart } from './proxy-chart.js';
import { formatNumber, renderProxyJsonLines, renderProxyMarkdown } from './proxy-report.js';
import type { ProxyBenchData, ProxyBenchSettings, ProxyRunRecord, PeerStatus } from './run.js';
import { median, ratio, summarise } from './stats.js';

const file = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bench', 'testdata', 'proxy-quick-run.jsonl');

function load(): ProxyBenchData {
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const strip = <T>(o: Record<string, unknown>): T => {
    const { type: _type, ...rest } = o;
    return rest as T;
  };
  return {
    settings: strip<ProxyBenchSettings>(lines.find((l) => l['type'] === 'proxy-settings')!),
    peers: lines.filter((l) => l['type'] === 'proxy-peer').map((l) => strip<PeerStatus>(l)),
    runs: lines.filter((l) => l['type'] === 'proxy-run').map((l) => strip<ProxyRunRecord>(l)),
    failures: [],
  };
}

const versions = { haproxy: '2.6.12', nginx: '1.22.1' };

void t.test('statistics: medians, ranges and ratios of the recorded runs', (t) => {
  const data = load();
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  const sums = summarise(data);
  const hap = sums.find((s) => s.scenario === 'h1-1k-64' && s.peer === 'haproxy')!;
  t.equal(hap.runs, 3);
  t.ok(hap.primary.min <= hap.primary.median && hap.primary.median <= hap.primary.max);
  t.ok(hap.cpuSecondsPer10k && hap.cpuSecondsPer10k.median > 0, 'sidecar CPU measured');
  t.ok(hap.rssLoad && hap.rssLoad.egress > 1e6 && hap.rssLoad.ingress > 1e6, 'sidecar RSS measured');
  t.equal(sums.find((s) => s.peer === 'direct')?.cpuSecondsPer10k, undefined, 'no sidecars on the direct path');
  const r = ratio(sums, 'h1-1k-64', 'haproxy', 'direct')!;
  t.ok(r > 0 && r < 1, 'HAProxy is slower than direct');
  t.equal(ratio(sums, 'h1-1k-64', 'ccmesh', 'haproxy'), undefined, 'no ratio for an implementation without runs');
  t.end();
});

void t.test('markdown: every scenario, every implementation, ratios and the skip line', (t) => {
  const data = load();
  const skipped: ProxyBenchData = { ...data, peers: data.peers.map((p) => (p.name === 'ccmesh' ? { name: 'ccmesh', state: 'skipped', reason: CCMESH_NOT_BUILT } : p)) };
  const md = renderProxyMarkdown(skipped, { versions, pinned: true });
  t.match(md, /- ccmesh: not available yet \(proxy not built\)/);
  t.match(md, /\| scenario \| direct \| haproxy \| nginx \| ccmesh \|/);
  for (const title of ['keep-alive, 1 KiB, 16 conns', 'keep-alive, 1 KiB, 64 conns', 'new connection per request', 'bulk 1 MiB', 'HTTP/2', 'fixed rate']) t.match(md, title);
  t.match(md, /× direct · [\d.]+× HAProxy/);
  t.match(md, /\| skipped \|/);
  t.match(md, /sidecar CPU s per 10 000 requests/);
  t.match(md, /pinned to CPU 0, load generator to CPU 1/);
  const rows = md.split('\n').filter((l) => l.startsWith('|'));
  t.ok(rows.every((l) => !l.includes('undefined') && !l.includes('NaN')), 'no undefined or NaN in the tables');
  t.end();
});

void t.test('markdown: RSS with open idle connections, per implementation, with failures flagged', (t) => {
  const data = load();
  const withOpen: ProxyBenchData = {
    ...data,
    peers: data.peers.map((p) => (p.name === 'haproxy' ? { ...p, openRss: { connections: 1000, failed: 0, idle: { egress: 16.1e6, ingress: 21e6 }, egress: 54.3e6, ingress: 47.8e6 } }
      : p.name === 'nginx' ? { ...p, openRss: { connections: 998, failed: 2, idle: { egress: 20e6, ingress: 20e6 }, egress: 60e6, ingress: 61e6 } } : p)),
  };
  const md = renderProxyMarkdown(withOpen, { versions, pinned: true });
  const row = md.split('\n').find((l) => l.startsWith('| sidecar RSS with'));
  t.ok(row, 'the row is there');
  t.match(row!, /with 1 000 open idle connections/);
  t.match(row!, /\| 54\.3 \/ 47\.8 \(38\.2 \/ 26\.8 KB\) \|/);
  t.match(row!, /60\.0 \/ 61\.0 \(40\.1 \/ 41\.1 KB\) ⚠ 2 failed to open/);
  t.notMatch(row!, /undefined|NaN/);
  t.end();
});

void t.test('svg: a well-formed document with a panel per scenario and a bar per measured implementation', (t) => {
  const data = load();
  const svg = renderProxyChart(data, 'recorded <run> & test');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /<\/svg>\n$/);
  t.match(svg, /recorded &lt;run&gt; &amp; test/, 'text is escaped');
  t.equal((svg.match(/<g transform=/g) ?? []).length, 12, 'two panels per scenario');
  t.equal((svg.match(/<title>haproxy: /g) ?? []).length, 12, 'one HAProxy bar per panel');
  t.notMatch(svg, /NaN|undefined/);
  t.end();
});

void t.test('json lines and number formatting', (t) => {
  const lines = renderProxyJsonLines(load()).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  t.equal(lines[0]?.type, 'proxy-settings');
  t.ok(lines.some((l) => l.type === 'proxy-summary'));
  t.equal(formatNumber(152934.4), '152 934');
  t.equal(formatNumber(5.071), '5.07');
  t.equal(formatNumber(Number.NaN), '—');
  t.end();
});
