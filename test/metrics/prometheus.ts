/**
 * A real Prometheus server for tests: found on PATH (Debian's `prometheus` package; `CCMESH_PROMETHEUS` names
 * another binary), started with its own config, a data directory under the test's temp dir and a loopback port,
 * queried through its HTTP API, and stopped (SIGTERM, then SIGKILL) at the end. Used by tests only.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { request } from 'undici';

/** The Prometheus binary to run, or why there is none. */
export type PrometheusFound = { readonly bin: string; readonly version: string } | { readonly reason: string };

/** Finds an executable `prometheus` (or `$CCMESH_PROMETHEUS`) and checks that `--version` runs. */
export async function findPrometheus(): Promise<PrometheusFound> {
  const named = process.env.CCMESH_PROMETHEUS;
  const bin = named ?? (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'prometheus')).find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (bin === undefined) return { reason: 'no prometheus on PATH (Debian: apt-get install prometheus; or set CCMESH_PROMETHEUS=/path/to/prometheus)' };
  const version = await new Promise<{ ok: boolean; text: string }>((resolve) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout, stderr) => resolve({ ok: err === null, text: `${stdout}${stderr}`.trim() || (err?.message ?? '') }));
  });
  if (!version.ok) return { reason: `"${bin} --version" failed: ${version.text}` };
  return { bin, version: version.text.split('\n')[0] ?? '' };
}

/** The envelope of every Prometheus API answer. */
export interface ApiAnswer<T> {
  readonly status: 'success' | 'error';
  readonly data: T;
  readonly errorType?: string;
  readonly error?: string;
  readonly warnings?: string[];
}

/** One element of an instant-vector result. */
export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

const KEEP = 32 * 1024;

/** A running Prometheus. */
export class Prometheus {
  readonly #child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | string>;
  #log = '';

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    child.stdout!.on('data', (d: Buffer) => (this.#log = (this.#log + d.toString()).slice(-KEEP)));
    child.stderr!.on('data', (d: Buffer) => (this.#log = (this.#log + d.toString()).slice(-KEEP)));
    this.exited = new Promise((resolve) => {
      child.once('error', (e) => {
        this.#log += `\nspawn failed: ${e.message}`;
        resolve(`spawn failed: ${e.message}`);
      });
      child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
  }

  /**
   * Writes `config` (prometheus.yml text) into `dir`, starts `bin` with its TSDB in `dir/data` listening on
   * 127.0.0.1:`port`, and waits until /-/ready answers 200. Throws with Prometheus' own output if it exits first
   * (a config or rules file it refuses) or is not ready within `readyMs`; it is stopped in that case.
   */
  static async start(bin: string, dir: string, port: number, config: string, readyMs = 20_000): Promise<Prometheus> {
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(configFile, config);
    const child = spawn(bin, [
      `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new Prometheus(child, port);
    let exitedEarly: number | string | undefined;
    void p.exited.then((code) => (exitedEarly = code));
    const deadline = Date.now() + readyMs;
    for (;;) {
      if (exitedEarly !== undefined) throw new Error(`prometheus exited with ${exitedEarly} before it was ready:\n${p.log}`);
      const ready = await p.#get('/-/ready').then((r) => r.status === 200, () => false);
      if (ready) return p;
      if (Date.now() > deadline) {
        await p.stop();
        throw new Error(`prometheus was not ready after ${readyMs} ms (expected 200 from /-/ready):\n${p.log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Prometheus' own output so far (the last 32 KiB). */
  get log(): string {
    return this.#log;
  }

  async #get(path: string): Promise<{ status: number; body: string }> {
    const res = await request(`http://127.0.0.1:${this.port}${path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    return { status: res.statusCode, body: await res.body.text() };
  }

  /** GET /api/v1/<path> with query parameters (repeated for arrays); the parsed answer, also for an error status. */
  async api<T>(path: string, params: Readonly<Record<string, string | readonly string[]>> = {}): Promise<ApiAnswer<T>> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of typeof v === 'string' ? [v] : v) q.append(k, one);
    const { status, body } = await this.#get(`/api/v1/${path}${q.size > 0 ? `?${q.toString()}` : ''}`);
    try {
      return JSON.parse(body) as ApiAnswer<T>;
    } catch {
      throw new Error(`/api/v1/${path}: expected a JSON answer, got HTTP ${status}: ${body.slice(0, 200)}`);
    }
  }

  /** An instant query that must succeed and return a vector; throws naming the query otherwise. */
  async vector(query: string): Promise<VectorSample[]> {
    const a = await this.api<{ resultType: string; result: VectorSample[] }>('query', { query });
    if (a.status !== 'success') throw new Error(`query ${query}: ${a.errorType}: ${a.error}`);
    if (a.data.resultType !== 'vector') throw new Error(`query ${query}: expected a vector, got ${a.data.resultType}`);
    return a.data.result;
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. Safe to call twice. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

/** Thrown by an {@link eventually} check to stop waiting at once (a process it waits for has exited). */
export class GaveUp extends Error {
  override readonly name = 'GaveUp';
}

/**
 * Polls `check` every 250 ms until it returns `{ ok: true }`; throws after `ms` with `what` and the last thing
 * `check` reported (its `seen`, or the error it threw). A {@link GaveUp} from `check` ends the wait at once.
 */
export async function eventually(what: string, ms: number, check: () => Promise<{ ok: boolean; seen: string }>): Promise<void> {
  const deadline = Date.now() + ms;
  let last = 'not checked yet';
  for (;;) {
    try {
      const r = await check();
      if (r.ok) return;
      last = r.seen;
    } catch (err) {
      if (err instanceof GaveUp) throw err;
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last seen: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
