/**
 * The credential snapshot the data path reads: the current {@link CredentialGeneration}, replaced as a whole when
 * the TLS directory changes. Changes are noticed by `fs.watch` (debounced, because a writer renames several files)
 * and by a periodic re-read as a fallback for file systems whose watch is unreliable. A generation that fails to
 * parse or check is logged, counted and ignored: the old one stays in use.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Clock } from '../../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { ProxyMetrics } from '../metrics.js';
import type { TimerHandle, Timers } from '../timers.js';
import { readTlsFiles } from '../../../contract/tls-dir.js';
import { buildGeneration, digestFiles, type CredentialFiles, type CredentialGeneration } from './generation.js';

/** Live handles of a {@link CredentialStore}. */
export interface CredentialStoreRuntime {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
}

/** Tunables of the watch. */
export interface CredentialWatchOptions {
  /** Quiet time after the last change event before re-reading. */
  readonly debounceMs?: number;
  /** Fallback re-read interval. */
  readonly pollMs?: number;
}

/** Called with each newly applied generation. */
export type GenerationListener = (g: CredentialGeneration) => void;

/** The current credentials and their watch. */
export class CredentialStore {
  readonly dir: string;
  readonly #rt: CredentialStoreRuntime;
  #current: CredentialGeneration;
  #number = 1;
  readonly #listeners: GenerationListener[] = [];
  #watcher: FSWatcher | undefined;
  #debounce: TimerHandle | undefined;
  #poll: TimerHandle | undefined;
  #reading: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #exclusive: Promise<void> = Promise.resolve();

  private constructor(dir: string, rt: CredentialStoreRuntime, first: CredentialGeneration) {
    this.dir = dir;
    this.#rt = rt;
    this.#current = first;
    rt.metrics.leafExpiry.set(first.notAfterMs / 1000);
  }

  /** Loads the first generation; throws (the sidecar must not start) when it is missing or inconsistent. */
  static async load(dir: string, rt: CredentialStoreRuntime): Promise<CredentialStore> {
    let files: CredentialFiles;
    try {
      files = await readTlsFiles(dir);
    } catch (err) {
      throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `reading credentials from ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const res = buildGeneration(files, rt.clock.nowMs());
    if (!res.ok) throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `credentials in ${dir}: ${res.reason}`);
    rt.metrics.credentialReloads.inc({ result: 'applied' });
    return new CredentialStore(dir, rt, res.generation);
  }

  /** The generation in use now. */
  get current(): CredentialGeneration {
    return this.#current;
  }

  /** How many generations were applied (1 = the first). */
  get generationNumber(): number {
    return this.#number;
  }

  /** Registers a listener for applied generations (servers swap their context there). */
  onGeneration(fn: GenerationListener): void {
    this.#listeners.push(fn);
  }

  /**
   * Runs `fn` after every earlier `exclusive` section finished. The renewal loop and the trust refresh each apply
   * files and write them to the TLS directory; serialised, the directory always ends with what was applied last
   * (interleaved, a slow bundle write could land after a renewal's and leave a leaf its bundle doesn't cover, which
   * the sidecar would refuse at its next start).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(fn);
    this.#exclusive = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Applies files that the caller already holds (the renewal loop), then they are also on disk. */
  applyFiles(files: CredentialFiles): { ok: true } | { ok: false; reason: string } {
    const res = buildGeneration(files, this.#rt.clock.nowMs());
    if (!res.ok) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      return res;
    }
    if (res.generation.digest !== this.#current.digest) this.#apply(res.generation);
    return { ok: true };
  }

  /** Starts the directory watch and the periodic re-read. */
  startWatching(opts: CredentialWatchOptions = {}): void {
    const debounceMs = opts.debounceMs ?? 250;
    const pollMs = opts.pollMs ?? 30_000;
    try {
      this.#watcher = watch(this.dir, { persistent: false }, () => {
        this.#debounce?.cancel();
        this.#debounce = this.#rt.timers.after(debounceMs, () => this.#triggerReload());
      });
      this.#watcher.on('error', (err) => this.#rt.logger.warn('credential watch failed; polling only', { err }));
    } catch (err) {
      this.#rt.logger.warn('credential watch unavailable; polling only', { err, dir: this.dir });
    }
    const poll = (): void => {
      this.#triggerReload();
      if (!this.#closed) this.#poll = this.#rt.timers.after(pollMs, poll);
    };
    this.#poll = this.#rt.timers.after(pollMs, poll);
  }

  /** Re-reads the directory now; resolves when the read (and a possible swap) is done. */
  reload(): Promise<void> {
    if (this.#reading) {
      // A change arrived mid-read: read once more afterwards so the last state always wins.
      this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#readOnce().finally(() => {
      this.#reading = undefined;
      if (this.#again && !this.#closed) {
        this.#again = false;
        this.#triggerReload();
      }
    });
    return this.#reading;
  }

  /** Stops the watch and timers. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#debounce?.cancel();
    this.#poll?.cancel();
  }

  #triggerReload(): void {
    this.reload().catch((err: unknown) => this.#rt.logger.error('credential reload failed', { err }));
  }

  async #readOnce(): Promise<void> {
    let files: CredentialFiles;
    try {
      files = await readTlsFiles(this.dir);
    } catch (err) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      this.#rt.logger.warn('credential files unreadable; keeping the current generation', { err, dir: this.dir });
      return;
    }
    if (this.#closed || digestFiles(files) === this.#current.digest) return;
    const res = buildGeneration(files, this.#rt.clock.nowMs());
    if (!res.ok) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      this.#rt.logger.warn('credential generation rejected; keeping the current one', { reason: res.reason, dir: this.dir });
      return;
    }
    this.#apply(res.generation);
  }

  #apply(g: CredentialGeneration): void {
    this.#current = g;
    this.#number++;
    this.#rt.metrics.credentialReloads.inc({ result: 'applied' });
    this.#rt.metrics.leafExpiry.set(g.notAfterMs / 1000);
    this.#rt.logger.info('credential generation applied', { generation: this.#number, serial: g.leaf.serialNumber, notAfter: g.leaf.validTo });
    for (const fn of this.#listeners) {
      try {
        fn(g);
      } catch (err) {
        this.#rt.logger.error('credential swap failed for a listener', { err });
      }
    }
  }
}
