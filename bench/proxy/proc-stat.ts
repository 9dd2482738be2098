/**
 * Cost of a sidecar from /proc: CPU seconds (utime + stime of the process and its descendants, e.g. nginx workers)
 * from /proc/<pid>/stat, and resident memory (VmRSS) from /proc/<pid>/status, summed over the same processes.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields of /proc/<pid>/stat the harness uses; undefined when the text is malformed. */
export function parseProcStat(text: string): { ppid: number; utimeTicks: number; stimeTicks: number } | undefined {
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
  const ppid = Number(rest[1]);
  const utimeTicks = Number(rest[11]);
  const stimeTicks = Number(rest[12]);
  if (![ppid, utimeTicks, stimeTicks].every(Number.isFinite)) return undefined;
  return { ppid, utimeTicks, stimeTicks };
}

/** VmRSS in bytes from /proc/<pid>/status text; 0 when absent (a zombie). */
export function parseVmRssBytes(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `pid` and all its living descendants. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readOrUndefined(`/proc/${name}/stat`);
    const parsed = st === undefined ? undefined : parseProcStat(st);
    if (parsed) parentOf.set(Number(name), parsed.ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i] && !tree.includes(child)) tree.push(child);
  }
  return tree.filter((p) => parentOf.has(p));
}

/** One reading of a sidecar's cost. */
export interface CostSample {
  readonly cpuSeconds: number;
  readonly rssBytes: number;
}

/** CPU seconds used so far and current RSS of `pids` (already expanded to their trees by the caller). */
export function sampleCost(pids: readonly number[]): CostSample {
  let ticks = 0;
  let rss = 0;
  for (const pid of pids) {
    const st = readOrUndefined(`/proc/${pid}/stat`);
    const parsed = st === undefined ? undefined : parseProcStat(st);
    if (parsed) ticks += parsed.utimeTicks + parsed.stimeTicks;
    const status = readOrUndefined(`/proc/${pid}/status`);
    if (status !== undefined) rss += parseVmRssBytes(status);
  }
  return { cpuSeconds: ticks / ticksPerSecond(), rssBytes: rss };
}
