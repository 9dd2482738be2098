/**
 * `--workers N` (node:cluster). The primary runs what must happen once — credentials check, admin server, renewal loop (it writes the
 * credential files), ready file — and forks N workers that run the listeners. Listening sockets are shared by the
 * cluster module (round-robin: the primary accepts and hands each connection to a worker; in capture mode the CLI
 * switches to SCHED_NONE so each worker can set IP_TRANSPARENT on the shared socket). Each worker loads the TLS
 * directory itself and watches it, so a renewal written by the primary reaches every worker through the same swap
 * path as a single process. The primary's `/ready` is 200 only while it is ready itself and every worker reported
 * ready; `/metrics` aggregates the primary's registry and every worker's with prom-client's
 * {@link AggregatorRegistry.aggregate} (counters and open-connection gauges summed; readiness and leaf expiry by
 * minimum). A worker that exits after startup is replaced; one that exits during startup fails startup.
 *
 * SECURITY: every worker, a replacement forked much later included, gets the root CA the primary pinned
 * ({@link WORKER_ROOT_ENV}) and refuses a TLS directory under another root: what the directory holds when a worker
 * starts is not trusted on its own (another container of the pod may have swapped it in meanwhile).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

/** IPC messages between the primary and its workers. */
export const WORKER_MESSAGE = Object.freeze({
  ready: 'ccmesh:worker-ready',
  metricsRequest: 'ccmesh:metrics-request',
  metricsResponse: 'ccmesh:metrics-response',
});

/** Environment variable that carries the primary's pinned root (SHA-256 fingerprint) to each worker it forks. */
export const WORKER_ROOT_ENV = 'CCMESH_WORKER_ROOT_SHA256';

/** How long the primary waits for a worker's metrics before leaving it out of one scrape. */
const METRICS_TIMEOUT_MS = 2000;
/** Delay before a worker that died after startup is replaced (no tight fork loop on a crashing worker). */
const REFORK_DELAY_MS = 1000;

type Message = { readonly type?: unknown; readonly id?: unknown; readonly metrics?: unknown };

/** The primary's view of its workers. */
export class WorkerPool {
  readonly #size: number;
  readonly #logger: Logger;
  readonly #ready = new Set<Worker>();
  readonly #workers = new Set<Worker>();
  readonly #pending = new Map<number, { left: Set<Worker>; results: unknown[]; done: () => void }>();
  #nextId = 1;
  #stopping = false;
  #started = false;
  #env: Record<string, string> = {};

  constructor(size: number, logger: Logger) {
    this.#size = size;
    this.#logger = logger;
  }

  /** Workers that reported ready. */
  get readyCount(): number {
    return this.#ready.size;
  }

  /** Why the pool is not ready, or undefined. */
  notReadyReason(): string | undefined {
    return this.#ready.size < this.#size ? `workers ready ${this.#ready.size}/${this.#size}` : undefined;
  }

  /**
   * Forks the workers with `env` added to their environment (also every replacement later); resolves once all of
   * them reported ready, rejects if one exits before.
   */
  start(env: Record<string, string> = {}): Promise<void> {
    this.#env = { ...env };
    return new Promise((resolve, reject) => {
      const onStartupExit = (w: Worker, code: number | null, signal: string | null): void => {
        if (this.#started) return;
        reject(new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, `worker ${w.id} exited during startup (code ${code}, signal ${signal}); see its log`));
      };
      for (let i = 0; i < this.#size; i++) {
        this.#fork(() => {
          if (!this.#started && this.#ready.size === this.#size) {
            this.#started = true;
            resolve();
          }
        }, onStartupExit);
      }
    });
  }

  #fork(onReady: () => void, onStartupExit?: (w: Worker, code: number | null, signal: string | null) => void): void {
    const w = cluster.fork(this.#env);
    this.#workers.add(w);
    w.on('message', (m: Message) => {
      if (m?.type === WORKER_MESSAGE.ready) {
        this.#ready.add(w);
        this.#logger.info('worker ready', { worker: w.id, pid: w.process.pid });
        onReady();
      } else if (m?.type === WORKER_MESSAGE.metricsResponse && typeof m.id === 'number') {
        const p = this.#pending.get(m.id);
        if (p && p.left.delete(w)) {
          p.results.push(m.metrics);
          if (p.left.size === 0) p.done();
        }
      }
    });
    w.once('exit', (code: number | null, signal: string | null) => {
      this.#workers.delete(w);
      this.#ready.delete(w);
      for (const p of this.#pending.values()) if (p.left.delete(w) && p.left.size === 0) p.done();
      if (this.#stopping) return;
      if (!this.#started) {
        onStartupExit?.(w, code, signal);
        return;
      }
      this.#logger.error('worker exited; replacing it', { worker: w.id, code, signal });
      setTimeout(() => {
        if (!this.#stopping) this.#fork(() => undefined);
      }, REFORK_DELAY_MS).unref();
    });
  }

  /** The primary's and every answering worker's metrics, aggregated, in the exposition format. */
  async metrics(primary: Registry): Promise<string> {
    const id = this.#nextId++;
    const left = new Set([...this.#workers].filter((w) => w.isConnected()));
    const results: unknown[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#logger.warn('workers did not answer a metrics request in time; scrape left them out', { missing: left.size });
        resolve();
      }, METRICS_TIMEOUT_MS);
      this.#pending.set(id, { left, results, done: () => { clearTimeout(timer); resolve(); } });
      if (left.size === 0) this.#pending.get(id)!.done();
      for (const w of left) w.send({ type: WORKER_MESSAGE.metricsRequest, id });
    });
    this.#pending.delete(id);
    const all = [await primary.getMetricsAsJSON(), ...(results as Awaited<ReturnType<Registry['getMetricsAsJSON']>>[])];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** SIGTERM to every worker (each drains for its own `--drain`), then SIGKILL whatever is left after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    const exits = [...this.#workers].map((w) => new Promise<void>((r) => {
      if (w.isDead()) return r();
      w.once('exit', () => r());
      w.process.kill('SIGTERM');
    }));
    const timer = setTimeout(() => {
      for (const w of this.#workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, graceMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}

/** In a worker: answers the primary's metrics requests from `registry` and reports ready. */
export function serveWorker(registry: Registry): void {
  process.on('message', (m: Message) => {
    if (m?.type !== WORKER_MESSAGE.metricsRequest) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: WORKER_MESSAGE.metricsResponse, id: m.id, metrics }),
      () => process.send?.({ type: WORKER_MESSAGE.metricsResponse, id: m.id, metrics: [] }),
    );
  });
  process.send?.({ type: WORKER_MESSAGE.ready });
}
