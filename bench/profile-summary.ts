/**
 * `node dist/bench/profile-summary.js PATH… [--top N]`: summarises V8 CPU profiles (`.cpuprofile`, as written by
 * `node --cpu-prof`, e.g. by `npm run bench -- --profile DIR`) by self time, per function and per module. A
 * directory stands for every profile in it (and below it), added up: one line of output per directory or file.
 *
 * Self time of a node = its hit count × the mean sampling interval of its profile; `(idle)` (the event loop waiting)
 * is reported apart and left out of the percentages, which are shares of the busy time. Functions are keyed by
 * name + script + line; modules by script path shortened to what names it (`node:internal/...`, `dist/proxy/...`),
 * with `(native)` for nodes without a script (C++ builtins, GC, `(program)`, `(idle)`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The parts of a `.cpuprofile` this reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly hitCount?: number;
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
}

/** Self time per key, in microseconds. */
export interface ProfileSummary {
  /** Sampled time without `(idle)`. */
  readonly totalUs: number;
  readonly idleUs: number;
  readonly byFunction: Map<string, number>;
  readonly byModule: Map<string, number>;
}

/** A script URL shortened to what identifies it. */
export function moduleOf(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 1);
  return url.replace(/^file:\/\//, '');
}

/** `into` (empty when absent) plus one profile, as a new summary. */
export function summarise(p: CpuProfile, into?: ProfileSummary): ProfileSummary {
  // A new summary each time: `into` stays as it was.
  const s = { totalUs: into?.totalUs ?? 0, idleUs: into?.idleUs ?? 0, byFunction: new Map(into?.byFunction), byModule: new Map(into?.byModule) };
  const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  if (hits === 0) return s;
  const usPerHit = (p.endTime - p.startTime) / hits;
  let total = s.totalUs;
  let idle = s.idleUs;
  for (const n of p.nodes) {
    const h = n.hitCount ?? 0;
    if (h === 0) continue;
    const us = h * usPerHit;
    if (n.callFrame.functionName === '(idle)' && n.callFrame.url === '') {
      idle += us;
      continue;
    }
    const mod = moduleOf(n.callFrame.url);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${mod}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    s.byFunction.set(fn, (s.byFunction.get(fn) ?? 0) + us);
    s.byModule.set(mod, (s.byModule.get(mod) ?? 0) + us);
    total += us;
  }
  return { ...s, totalUs: total, idleUs: idle };
}

/** Every `.cpuprofile` under `path` (or `path` itself). */
function profilesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => {
    const full = join(path, e.name);
    if (e.isDirectory()) return profilesUnder(full);
    return e.name.endsWith('.cpuprofile') ? [full] : [];
  });
}

/** The report for one summary: totals, then the top functions and modules by self time (ms and %). */
export function renderSummary(title: string, s: ProfileSummary, top: number): string {
  const pct = (us: number): string => `${((us / s.totalUs) * 100).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(8)} ms`;
  const rows = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `  ${ms(us)} ${pct(us)}  ${k}`);
  return [`== ${title}: ${(s.totalUs / 1000).toFixed(0)} ms busy, ${(s.idleUs / 1000).toFixed(0)} ms idle`, '-- self time by function', ...rows(s.byFunction), '-- self time by module', ...rows(s.byModule), ''].join('\n');
}

const main = (): number => {
  const argv = process.argv.slice(2);
  let top = 30;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') {
      top = Number(argv[++i]);
      if (!Number.isInteger(top) || top < 1) {
        process.stderr.write(`profile-summary: --top: "${argv[i]}" is not a positive integer\n`);
        return 64;
      }
    } else paths.push(argv[i]!);
  }
  if (paths.length === 0) {
    process.stderr.write('Usage: node dist/bench/profile-summary.js PATH… [--top N]  (PATH: a .cpuprofile or a directory of them)\n');
    return 64;
  }
  for (const path of paths) {
    const files = profilesUnder(path);
    let s: ProfileSummary | undefined;
    for (const f of files) s = summarise(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, s);
    if (s) process.stdout.write(renderSummary(`${relative(process.cwd(), path) || path} (${files.length} profile${files.length === 1 ? '' : 's'})`, s, top) + '\n');
  }
  return 0;
};

// Run as a program only (the test imports the functions).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = main();
