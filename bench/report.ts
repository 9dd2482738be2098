/** Bench output: JSON lines with machine information, and a Markdown table for bench/RESULTS.md. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { Measurement } from './measure.js';

/** Facts about the run that make figures comparable. */
export interface RunInfo {
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly commit: string;
  readonly command: string;
  /** Versions of external tools (load generators, reference proxies), when the run used them. */
  readonly versions?: Readonly<Record<string, string>>;
}

/** Collects {@link RunInfo} for this process. */
export function runInfo(command: string): RunInfo {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    commit = 'not a git checkout';
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    commit,
    command,
  };
}

/** One JSON object per line: first the run info, then each measurement. */
export function renderJsonLines(info: RunInfo, ms: readonly Measurement[]): string {
  return [JSON.stringify({ type: 'run', ...info }), ...ms.map((m) => JSON.stringify({ type: 'measurement', ...m }))].join('\n') + '\n';
}

const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

/** A Markdown table of the measurements with the run's facts above it. */
export function renderMarkdown(info: RunInfo, ms: readonly Measurement[]): string {
  const rows = ms.map((m) => `| ${m.suite} | ${m.scenario} | ${fmt(m.median)} | ${fmt(m.min)}–${fmt(m.max)} | ${m.cpuMicrosPerOp.toFixed(0)} | ${m.notes ?? ''} |`);
  return [
    `Command: \`${info.command}\` — ${info.date}, commit ${info.commit}, Node ${info.node}, ${info.cpu} (${info.cores} cores, ${info.memoryGiB} GiB)`,
    '',
    '| suite | scenario | median ops/s | range | CPU µs/op | notes |',
    '|---|---|---:|---:|---:|---|',
    ...rows,
    '',
  ].join('\n');
}
