/**
 * Parser for h2load's text summary. h2load reports request time as min/max/mean/sd only (no percentiles), so the
 * HTTP/2 scenario has throughput and mean latency but no p99.
 */

/** What one h2load run measured. */
export interface H2loadResult {
  readonly seconds: number;
  readonly reqPerSec: number;
  readonly bytesPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly latencyUs: { readonly min: number; readonly max: number; readonly mean: number };
}

const UNIT_US: Readonly<Record<string, number>> = { us: 1, ms: 1000, s: 1_000_000 };
const UNIT_BYTES: Readonly<Record<string, number>> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

function durationUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) throw new Error(`h2load output: bad duration "${text}"`);
  return Number(m[1]) * UNIT_US[m[2]!]!;
}

function must(re: RegExp, text: string, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`h2load output: no ${what} line`);
  return m;
}

/** Parses h2load's stdout; throws with the missing line's name when the summary is incomplete. */
export function parseH2loadOutput(stdout: string): H2loadResult {
  const fin = must(/finished in ([\d.]+)s, ([\d.]+) req\/s, ([\d.]+)(B|KB|MB|GB)\/s/, stdout, '"finished in"');
  const req = must(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/, stdout, '"requests:"');
  const st = must(/status codes: (\d+) 2xx/, stdout, '"status codes:"');
  const t = must(/time for request:\s+(\S+)\s+(\S+)\s+(\S+)/, stdout, '"time for request:"');
  return {
    seconds: Number(fin[1]),
    reqPerSec: Number(fin[2]),
    bytesPerSec: Number(fin[3]) * UNIT_BYTES[fin[4]!]!,
    succeeded: Number(req[1]),
    failed: Number(req[2]),
    errored: Number(req[3]),
    timeout: Number(req[4]),
    status2xx: Number(st[1]),
    latencyUs: { min: durationUs(t[1]!), max: durationUs(t[2]!), mean: durationUs(t[3]!) },
  };
}
