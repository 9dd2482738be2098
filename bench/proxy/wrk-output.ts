/**
 * wrk's side of the load: a generated Lua script whose done() prints one `WRK_JSON {…}` line (counts, errors and
 * the latency distribution's percentiles in µs), and the parser for that line.
 */

/** What one wrk run measured. */
export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly status: number; readonly timeout: number };
  readonly latencyUs: { readonly min: number; readonly mean: number; readonly max: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number };
}

/** Options baked into the script. */
export interface WrkScriptOptions {
  /** Send `Connection: close` so every request opens a new connection. */
  readonly connectionClose?: boolean;
  /** Pause per connection between a response and the next request, in ms (a rate-limited closed loop). */
  readonly delayMs?: number;
}

const MARKER = 'WRK_JSON ';

/** Renders the Lua script for `wrk -s`. */
export function renderWrkScript(opts: WrkScriptOptions): string {
  const lines: string[] = [];
  if (opts.connectionClose) lines.push('wrk.headers["Connection"] = "close"');
  if (opts.delayMs !== undefined) lines.push(`delay = function() return ${Math.max(0, Math.round(opts.delayMs))} end`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format('${MARKER}{"requests":%d,"duration_us":%d,"bytes":%d,' ..`,
    `    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..`,
    `    '"latency_us":{"min":%d,"mean":%.2f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\\n',`,
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),',
    '    latency:percentile(99), latency:percentile(99.9)))',
    'end',
    '',
  );
  return lines.join('\n');
}

function num(o: unknown, key: string): number {
  const v = (o as Record<string, unknown> | null)?.[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`wrk output: "${key}" is not a number`);
  return v;
}

/** Parses wrk's stdout (with the script's JSON line); throws with a reason when the line is missing or malformed. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) throw new Error('wrk output: no WRK_JSON line (did the run end early?)');
  const o = JSON.parse(line.slice(MARKER.length)) as Record<string, unknown>;
  const e = o['errors'];
  const l = o['latency_us'];
  return {
    requests: num(o, 'requests'),
    durationUs: num(o, 'duration_us'),
    bytes: num(o, 'bytes'),
    errors: { connect: num(e, 'connect'), read: num(e, 'read'), write: num(e, 'write'), status: num(e, 'status'), timeout: num(e, 'timeout') },
    latencyUs: { min: num(l, 'min'), mean: num(l, 'mean'), max: num(l, 'max'), p50: num(l, 'p50'), p90: num(l, 'p90'), p99: num(l, 'p99'), p999: num(l, 'p999') },
  };
}
