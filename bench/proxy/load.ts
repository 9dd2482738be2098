/**
 * Runs the load generator for one scenario against one port, in its own process pinned to the load CPUs, bounded
 * by the scenario duration plus a hard kill deadline, and reduces wrk's or h2load's output to one {@link LoadResult}.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseH2loadOutput } from './h2load-output.js';
import { hasTaskset } from './processes.js';
import type { Scenario } from './scenarios.js';
import { parseWrkOutput, renderWrkScript } from './wrk-output.js';

/** One load run's figures, tool-independent. Latencies in µs; percentiles absent for h2load. */
export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly reqPerSec: number;
  readonly mibPerSec: number;
  /** Failed requests of every kind (connect/read/write errors, timeouts, non-2xx). */
  readonly errors: number;
  readonly latencyUs: { readonly mean: number; readonly max: number; readonly p50?: number; readonly p99?: number; readonly p999?: number };
}

/** argv of the load tool (without taskset) for `scenario` against 127.0.0.1:`port`. */
export function loadArgv(scenario: Scenario, port: number, seconds: number, scriptPath: string): [string, string[]] {
  const url = `http://127.0.0.1:${port}${scenario.path}`;
  if (scenario.tool === 'h2load') {
    // http:// URL → h2c with prior knowledge; one client thread on the load core.
    return ['h2load', ['-t1', `-c${scenario.connections}`, `-m${scenario.streams ?? 1}`, '-D', String(seconds), url]];
  }
  return ['wrk', ['-t1', `-c${scenario.connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', scriptPath, url]];
}

/** Writes the wrk script for `scenario` into `dir` and returns its path. */
export function writeWrkScript(scenario: Scenario, dir: string): string {
  const path = join(dir, `${scenario.id}.lua`);
  const delayMs = scenario.rate === undefined ? undefined : (scenario.connections * 1000) / scenario.rate;
  writeFileSync(path, renderWrkScript({ ...(scenario.connectionClose ? { connectionClose: true } : {}), ...(delayMs !== undefined ? { delayMs } : {}) }));
  return path;
}

/** Turns the tool's stdout into a {@link LoadResult}. */
export function reduceLoadOutput(scenario: Scenario, stdout: string): LoadResult {
  if (scenario.tool === 'h2load') {
    const h = parseH2loadOutput(stdout);
    return {
      requests: h.succeeded,
      seconds: h.seconds,
      reqPerSec: h.reqPerSec,
      mibPerSec: h.bytesPerSec / 2 ** 20,
      errors: h.failed + h.errored + h.timeout,
      latencyUs: { mean: h.latencyUs.mean, max: h.latencyUs.max },
    };
  }
  const w = parseWrkOutput(stdout);
  const seconds = w.durationUs / 1e6;
  const e = w.errors;
  return {
    requests: w.requests,
    seconds,
    reqPerSec: w.requests / seconds,
    mibPerSec: w.bytes / seconds / 2 ** 20,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
    latencyUs: { mean: w.latencyUs.mean, max: w.latencyUs.max, p50: w.latencyUs.p50, p99: w.latencyUs.p99, p999: w.latencyUs.p999 },
  };
}

/** Runs the load for `seconds` and resolves with the result; rejects if the tool fails or overruns its deadline. */
export function runLoad(scenario: Scenario, port: number, seconds: number, scriptDir: string, loadCpus?: string): Promise<LoadResult> {
  const script = scenario.tool === 'wrk' ? writeWrkScript(scenario, scriptDir) : '';
  const [cmd, args] = loadArgv(scenario, port, seconds, script);
  const [file, argv] = loadCpus !== undefined && hasTaskset() ? ['taskset', ['-c', loadCpus, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: 'utf8', timeout: (seconds + 20) * 1000, killSignal: 'SIGKILL', maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} failed for ${scenario.id}: ${err.message} ${stderr.trim().slice(-500)}`, { cause: err }));
        return;
      }
      try {
        resolve(reduceLoadOutput(scenario, stdout));
      } catch (parseErr) {
        reject(parseErr instanceof Error ? parseErr : new Error(String(parseErr)));
      }
    });
  });
}
