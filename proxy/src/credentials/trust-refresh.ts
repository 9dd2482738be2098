/**
 * Trust refresh: how a manifest update reaches running sidecars without a restart. Every interval the sidecar asks
 * the Coordinator's mesh API for the current mesh CA bundle (`GetTrustBundle`, public data). A bundle with a CA we
 * don't trust yet is adopted at once — same key and leaf, new bundle (old + new CA) — and the leaf is renewed
 * `settleIntervals` intervals later, so that every peer polling at the same interval trusts the new CA before any
 * leaf it issued is shown. A bundle that no longer covers our own leaf (we missed a whole transition) triggers an
 * immediate renewal instead, whose answer carries the bundle.
 *
 * SECURITY: the answer is trusted only through the root the pod already holds — the returned root must be the same
 * certificate and `buildGeneration` requires every bundle CA ← root and our leaf ← bundle. A host in the middle can
 * delay an update; it cannot make the sidecar trust a CA the root didn't sign, and an older root-signed bundle (one
 * whose newest CA is older than the newest we hold — a replay that would re-trust a CA a manifest update dropped)
 * is refused: bundles only move forward.
 */
import type { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import type { Logger } from '../../../lib/log.js';
import type { TrustBundleResponse } from '../../../lib/protocol/messages.js';
import { samePemCertificate } from '../../../lib/pki/same-certificate.js';
import { PATHS } from '../../../lib/well-known.js';
import type { ProxyMetrics } from '../metrics.js';
import type { TimerHandle, Timers } from '../timers.js';
import { parseCertificates } from './generation.js';
import type { MeshClient, RenewalLoop } from './renewal.js';
import type { CredentialStore } from './store.js';

/** Live handles of the refresh. */
export interface TrustRefreshRuntime {
  readonly store: CredentialStore;
  readonly renewal: Pick<RenewalLoop, 'renewWithin'>;
  readonly connect: () => Promise<MeshClient>;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
}

/** What one poll did. */
export type TrustRefreshOutcome = 'unchanged' | 'adopted' | 'renewing' | 'failed';

/** Polls the mesh CA bundle on a timer. */
export class TrustRefresh {
  readonly #rt: TrustRefreshRuntime;
  readonly #intervalMs: number;
  readonly #settleIntervals: number;
  #timer: TimerHandle | undefined;
  #running: Promise<TrustRefreshOutcome> | undefined;
  #stopped = false;

  constructor(rt: TrustRefreshRuntime, intervalMs: number, settleIntervals = 2) {
    this.#rt = rt;
    this.#intervalMs = intervalMs;
    this.#settleIntervals = settleIntervals;
  }

  /** Schedules the first poll one interval from now. */
  start(): void {
    this.#schedule();
  }

  /** Cancels the timer and waits for a poll in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }

  /** Polls now (also what the timer calls). Concurrent calls share one poll. */
  pollNow(): Promise<TrustRefreshOutcome> {
    this.#running ??= this.#poll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#rt.timers.after(this.#intervalMs, () => {
      void this.pollNow().finally(() => this.#schedule());
    });
  }

  async #poll(): Promise<TrustRefreshOutcome> {
    let res: TrustBundleResponse;
    try {
      const client = await this.#rt.connect();
      try {
        res = await client.call<TrustBundleResponse>('GetTrustBundle', {});
      } finally {
        client.close();
      }
    } catch (err) {
      this.#count('failed');
      this.#rt.logger.warn('mesh CA bundle poll failed; keeping the current bundle', { err });
      return 'failed';
    }
    const current = this.#rt.store.current;
    if (typeof res?.meshCaBundle !== 'string' || typeof res.rootCa !== 'string' || !samePemCertificate(res.rootCa, current.files.rootCa)) {
      this.#count('failed');
      this.#rt.logger.warn('SECURITY: GetTrustBundle answer refused: malformed or a root other than the pinned one');
      return 'failed';
    }
    if (sameBundle(res.meshCaBundle, current.files.meshCaBundle)) {
      this.#count('unchanged');
      return 'unchanged';
    }
    if (!movesForward(res.meshCaBundle, current.files.meshCaBundle)) {
      // SECURITY: a bundle that drops our newest CA without bringing a newer one is a replay of an older generation
      // (a CA a later manifest update dropped would be trusted again).
      this.#count('failed');
      this.#rt.logger.warn('SECURITY: GetTrustBundle answer refused: it drops the newest mesh CA in use without a newer one (a replayed earlier generation)');
      return 'failed';
    }
    const files = { ...current.files, meshCaBundle: res.meshCaBundle };
    const applied = this.#rt.store.applyFiles(files);
    if (!applied.ok) {
      // Typically our leaf's CA left the bundle (two transitions while we weren't looking): renew now; the
      // renewal answer brings a leaf and the bundle together.
      this.#rt.logger.warn('new mesh CA bundle does not cover the current leaf; renewing now', { reason: applied.reason });
      this.#count('renewing');
      this.#rt.renewal.renewWithin(0);
      return 'renewing';
    }
    try {
      // Only the bundle changed: rewriting key and chain would open a needless mid-update window for readers.
      await writeFileAtomic(join(this.#rt.store.dir, PATHS.meshCaFile), res.meshCaBundle, 0o644);
    } catch (err) {
      // The in-memory generation is already in use; the initializer's files stay valid for a restart.
      this.#rt.logger.warn('writing the new mesh CA bundle failed; using it from memory', { err });
    }
    const settleMs = this.#intervalMs * this.#settleIntervals;
    this.#count('adopted');
    this.#rt.logger.info('new mesh CA trusted; leaf renewal follows', { manifestHash: res.manifestHash, renewInMs: settleMs });
    this.#rt.renewal.renewWithin(settleMs);
    return 'adopted';
  }

  #count(result: TrustRefreshOutcome): void {
    this.#rt.metrics.trustRefreshes.inc({ result });
  }
}

function fingerprints(pem: string): string[] {
  return parseCertificates(pem).map((c) => c.fingerprint256).sort();
}

function sameBundle(a: string, b: string): boolean {
  try {
    return fingerprints(a).join() === fingerprints(b).join();
  } catch {
    // An unparsable answer is "different"; applyFiles then rejects it with a reason.
    return false;
  }
}

/**
 * True when `offered` is a step forward from `held`: it still holds our newest mesh CA (the next transition keeps it
 * as the previous CA), or its own newest CA is strictly newer than ours (we missed whole transitions). Mesh CAs are
 * made one per manifest generation, each later than the one before. An unreadable bundle is not a step forward.
 */
function movesForward(offered: string, held: string): boolean {
  try {
    const newest = (certs: X509Certificate[]): X509Certificate | undefined =>
      certs.reduce<X509Certificate | undefined>((a, c) => (a === undefined || Date.parse(c.validFrom) > Date.parse(a.validFrom) ? c : a), undefined);
    const ours = newest(parseCertificates(held));
    const theirs = parseCertificates(offered);
    const theirNewest = newest(theirs);
    if (ours === undefined) return true;
    if (theirNewest === undefined) return false;
    return theirs.some((c) => c.fingerprint256 === ours.fingerprint256) || Date.parse(theirNewest.validFrom) > Date.parse(ours.validFrom);
  } catch {
    return false;
  }
}
