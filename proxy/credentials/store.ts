/**
 * The credential snapshot the data path reads: the current {@link CredentialGeneration}, replaced as a whole when
 * the TLS directory changes. Changes are noticed by `fs.watch` (debounced, because a writer renames several files)
 * and by a periodic re-read as a fallback for file systems whose watch is unreliable. A generation that fails to
 * parse or check is logged, counted and ignored: the old one stays in use.
 *
 * SECURITY: the root CA of the first generation is pinned for the life of the process. Every later generation — a
 * reload of the directory, a renewal answer, a trust refresh ({@link CredentialStore.check}) — must carry that very
 * root, so a container that renames the TLS directory away and puts its own in its place gets nothing trusted. At
 * start the directory itself must be ours (contract/tls-dir.ts `tlsDirProblem`), and a `--workers` worker must find
 * the root its primary pinned.
 */
import type { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { CredentialRefusal, CredentialSource, ProxyMetrics } from '../metrics.js';
import type { TimerHandle, Timers } from '../timers.js';
import { finishInterruptedWrite, readTlsFiles, tlsDirProblem } from '../../contract/tls-dir.js';
import { buildGeneration, describeCertificate, digestFiles, refusalOf, type CredentialFiles, type CredentialGeneration, type GenerationResult } from './generation.js';

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

/** What {@link CredentialStore.load} checks beyond the files themselves. */
export interface CredentialLoadOptions {
  /**
   * SHA-256 fingerprint (as `X509Certificate.fingerprint256`) of the root the first generation must carry: a
   * `--workers` worker gets its primary's pinned root, so a worker forked after the directory changed starts from the
   * primary's trust, not from what the directory holds now.
   */
  readonly rootFingerprint?: string;
}

/** The current credentials and their watch. */
export class CredentialStore {
  readonly dir: string;
  readonly #rt: CredentialStoreRuntime;
  /** The root CA of the first generation; every later generation must carry it. */
  readonly #pinnedRoot: X509Certificate;
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
    this.#pinnedRoot = first.root;
    this.#current = first;
    rt.metrics.leafExpiry.set(first.notAfterMs / 1000);
  }

  /**
   * Loads the first generation, whose root is pinned from then on; throws (the sidecar must not start) when the
   * directory is not ours, or the files are missing or inconsistent, or the root is not `opts.rootFingerprint`.
   */
  static async load(dir: string, rt: CredentialStoreRuntime, opts: CredentialLoadOptions = {}): Promise<CredentialStore> {
    let files: CredentialFiles;
    try {
      // SECURITY: the directory the root is pinned from must be ours (not made or swapped in by another container).
      const unsafe = await tlsDirProblem(dir);
      if (unsafe !== undefined) throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `the TLS directory ${dir} ${unsafe}: refusing to load credentials from it`);
      // Only the primary (no pinned root given) finishes or cleans up a cut write: a worker loading later (a
      // respawn) could otherwise remove the files a renewal of the primary has just staged, or race its renames.
      const interrupted = opts.rootFingerprint === undefined ? await finishInterruptedWrite(dir) : 'none';
      if (interrupted === 'completed') rt.logger.warn('a credential write cut short by a crash was completed (the staged leaf matched the new key)', { dir });
      files = await readTlsFiles(dir);
    } catch (err) {
      if (err instanceof CcmeshError) throw err;
      throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `reading credentials from ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const res = buildGeneration(files, rt.clock.nowMs());
    if (!res.ok) throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `credentials in ${dir}: ${res.reason}`);
    const pin = opts.rootFingerprint;
    if (pin !== undefined && res.generation.root.fingerprint256 !== pin) {
      rt.metrics.credentialRefusals.inc({ source: 'files', reason: 'root-changed' });
      throw new CcmeshError(ErrorCode.PROXY_CREDENTIALS_INVALID, `credentials in ${dir}: root CA ${describeCertificate(res.generation.root)} (SHA-256 ${res.generation.root.fingerprint256}) is not the root pinned by the primary (SHA-256 ${pin})`);
    }
    rt.metrics.credentialReloads.inc({ result: 'applied' });
    return new CredentialStore(dir, rt, res.generation);
  }

  /** The generation in use now. */
  get current(): CredentialGeneration {
    return this.#current;
  }

  /** The root CA the sidecar started with; no generation with another root is ever used. */
  get pinnedRoot(): X509Certificate {
    return this.#pinnedRoot;
  }

  /**
   * Checks and builds a generation from `files` against the pinned root, without applying it: what every source of
   * a new generation (the directory, a renewal, a trust refresh) goes through.
   */
  check(files: CredentialFiles): GenerationResult {
    return buildGeneration(files, this.#rt.clock.nowMs(), this.#pinnedRoot);
  }

  /**
   * Counts a refused generation (`ccmesh_proxy_credential_refusals_total{source,reason}`); a root other than the
   * pinned one is also logged as an error, since only someone replacing the TLS directory or answering for the
   * Coordinator produces one.
   */
  countRefusal(source: CredentialSource, reason: CredentialRefusal, detail: string): void {
    this.#rt.metrics.credentialRefusals.inc({ source, reason });
    if (reason === 'root-changed') {
      this.#rt.logger.error('SECURITY: credentials under another root CA than the one this sidecar started with refused; keeping the current generation', { source, reason: detail, dir: this.dir });
    }
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

  /**
   * Applies files that the caller already holds (`source`: the renewal loop or the trust refresh), then they are
   * also on disk. A refusal is counted here, for `source`.
   */
  applyFiles(files: CredentialFiles, source: Exclude<CredentialSource, 'files'>): { ok: true } | { ok: false; reason: string } {
    const res = this.check(files);
    if (!res.ok) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      this.countRefusal(source, refusalOf(res), res.reason);
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
    // Inside the exclusive section, so the sidecar's own writes (a renewal, a trust refresh) are never read half-done:
    // read between the key's rename and the leaf's, the directory would hold a new key beside the old leaf, and that
    // generation would be refused and counted as an invalid one on every renewal.
    this.exclusive(() => this.reload()).catch((err: unknown) => this.#rt.logger.error('credential reload failed', { err }));
  }

  async #readOnce(): Promise<void> {
    let files: CredentialFiles;
    try {
      files = await readTlsFiles(this.dir);
    } catch (err) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      this.#rt.metrics.credentialRefusals.inc({ source: 'files', reason: 'invalid' });
      this.#rt.logger.warn('credential files unreadable; keeping the current generation', { err, dir: this.dir });
      return;
    }
    if (this.#closed || digestFiles(files) === this.#current.digest) return;
    const res = this.check(files);
    if (!res.ok) {
      this.#rt.metrics.credentialReloads.inc({ result: 'rejected' });
      this.#rt.logger.warn('credential generation rejected; keeping the current one', { reason: res.reason, dir: this.dir });
      this.countRefusal('files', refusalOf(res), res.reason);
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
