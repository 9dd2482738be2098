/**
 * Trust refresh: how a manifest update reaches running sidecars without a restart. Every interval (a job of the
 * credential timers, scheduler.ts, shared with the renewal) the sidecar asks the Coordinator's mesh API for the
 * current mesh CA bundle (`GetTrustBundle`, public data). A bundle with a CA we don't trust yet is adopted at once —
 * same key and leaf, new bundle (old + new CA) — and the leaf is renewed `settleIntervals` intervals later, so that
 * every peer polling at the same interval trusts the new CA before any leaf it issued is shown. A bundle that no
 * longer covers our own leaf (we missed a whole transition) triggers an immediate renewal instead, whose answer
 * carries the bundle.
 *
 * SECURITY: the answer is trusted only through the root the sidecar started with (CredentialStore.pinnedRoot) — the
 * returned root must be the same certificate and the store's check requires every bundle CA ← root and our leaf ←
 * bundle. A host in the middle can delay an update; it cannot make the sidecar trust a CA the root didn't sign, and an
 * older root-signed bundle (one whose newest CA is older than the newest we hold — a replay that would re-trust a CA
 * a manifest update dropped) is refused, and so is a bundle that adds back a CA older than our newest or one this
 * process dropped: bundles only move forward ({@link stepBackProblem}). A bundle holds at most the current and the
 * previous mesh CA. Every refusal is counted in `ccmesh_proxy_credential_refusals_total{source="trust-refresh"}`.
 */
import type { X509Certificate } from 'node:crypto';
import { writeTlsBundle } from '../../contract/tls-dir.js';
import type { Logger } from '../../lib/log.js';
import type { TrustBundleResponse } from '../../lib/protocol/messages.js';
import { samePemCertificate } from '../../lib/pki/same-certificate.js';
import type { CredentialRefusal, ProxyMetrics } from '../metrics.js';
import { bundleShapeProblem, caNotIssuedByRoot, describeCertificate, parseCertificates } from './generation.js';
import type { MeshClient, RenewalLoop } from './renewal.js';
import type { CredentialScheduler, ScheduledJob } from './scheduler.js';
import type { CredentialStore } from './store.js';

/** Live handles of the refresh. */
export interface TrustRefreshRuntime {
  readonly store: CredentialStore;
  readonly renewal: Pick<RenewalLoop, 'renewWithin'>;
  readonly connect: () => Promise<MeshClient>;
  /** The credential timers the refresh runs on (shared with the renewal; one stop() for both). */
  readonly scheduler: CredentialScheduler;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
}

/** What one poll did. */
export type TrustRefreshOutcome = 'unchanged' | 'adopted' | 'renewing' | 'failed';

/** How many dropped mesh CAs a sidecar remembers (two per manifest update). */
const MAX_DROPPED_REMEMBERED = 256;

/** Polls the mesh CA bundle on a timer. */
export class TrustRefresh {
  readonly #rt: TrustRefreshRuntime;
  readonly #intervalMs: number;
  readonly #settleIntervals: number;
  readonly #job: ScheduledJob<TrustRefreshOutcome>;
  /** Fingerprints of mesh CAs this process stopped trusting (bounded: the newest MAX_DROPPED_REMEMBERED). */
  readonly #dropped = new Set<string>();

  constructor(rt: TrustRefreshRuntime, intervalMs: number, settleIntervals = 2) {
    this.#rt = rt;
    this.#intervalMs = intervalMs;
    this.#settleIntervals = settleIntervals;
    // The next poll is one interval after each timed poll ends; a poll asked for with pollNow arms nothing.
    this.#job = rt.scheduler.job(() => this.#poll(), () => this.#job.runIn(this.#intervalMs));
  }

  /** Schedules the first poll one interval from now. */
  start(): void {
    this.#job.runIn(this.#intervalMs);
  }

  /** Polls now (also what the timer calls). Concurrent calls share one poll. */
  pollNow(): Promise<TrustRefreshOutcome> {
    return this.#job.runNow();
  }

  async #poll(): Promise<TrustRefreshOutcome> {
    let res: TrustBundleResponse;
    try {
      const client = await this.#rt.connect();
      try {
        res = await client.call('GetTrustBundle', {});
      } finally {
        client.close();
      }
    } catch (err) {
      this.#count('failed');
      this.#rt.logger.warn('mesh CA bundle poll failed; keeping the current bundle', { err });
      return 'failed';
    }
    // Judged and applied exclusively with the renewal's writes, against the credentials in use at that moment.
    return this.#rt.store.exclusive(() => this.#judge(res));
  }

  async #judge(res: TrustBundleResponse): Promise<TrustRefreshOutcome> {
    const current = this.#rt.store.current;
    const pinned = this.#rt.store.pinnedRoot;
    const malformed = typeof res?.meshCaBundle !== 'string' || typeof res.rootCa !== 'string';
    if (malformed || !samePemCertificate(res.rootCa, pinned.toString())) {
      return this.#refuse(malformed ? 'invalid' : 'root-changed', 'malformed or a root other than the pinned one');
    }
    // SECURITY: shape first (at most the current and the previous mesh CA, no duplicates), so an answer costs at
    // most two certificate parses and padding a bundle with copies can't make a "new" bundle out of an old one.
    const shape = bundleShapeProblem(res.meshCaBundle);
    if (shape !== undefined) {
      return this.#refuse('invalid', shape);
    }
    const offered = parseCertificates(res.meshCaBundle); // readable and at most MAX_BUNDLE_CAS: checked above
    if (sameFingerprints(offered, current.bundle)) {
      this.#count('unchanged');
      return 'unchanged';
    }
    const backwards = stepBackProblem(offered, current.bundle, this.#dropped);
    if (backwards !== undefined) {
      return this.#refuse('invalid', backwards);
    }
    // SECURITY: a CA the pinned root did not issue is refused here, as such — not left to applyFiles, whose refusal
    // reads as "the bundle no longer covers our leaf" and would start a renewal at every poll of a host in the middle.
    const stray = caNotIssuedByRoot(offered, pinned);
    if (stray !== undefined) {
      return this.#refuse('foreign-ca', 'it holds a mesh CA the pinned root did not issue', { ca: describeCertificate(stray) });
    }
    const files = { ...current.files, meshCaBundle: res.meshCaBundle };
    const held = current.bundle;
    const applied = this.#rt.store.applyFiles(files, 'trust-refresh');
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
      await writeTlsBundle(this.#rt.store.dir, files.meshCaBundle);
    } catch (err) {
      // The in-memory generation is already in use; the initializer's files stay valid for a restart.
      this.#rt.logger.warn('writing the new mesh CA bundle failed; using it from memory', { err });
    }
    this.#forget(held.filter((c) => !offered.some((o) => o.fingerprint256 === c.fingerprint256)));
    const settleMs = this.#intervalMs * this.#settleIntervals;
    this.#count('adopted');
    this.#rt.logger.info('new mesh CA trusted; leaf renewal follows', { manifestHash: res.manifestHash, renewInMs: settleMs });
    this.#rt.renewal.renewWithin(settleMs);
    return 'adopted';
  }

  #forget(cas: readonly X509Certificate[]): void {
    for (const ca of cas) {
      this.#dropped.add(ca.fingerprint256);
      // Dates refuse an older CA anyway; the set covers CAs created within the same second as a newer one.
      if (this.#dropped.size > MAX_DROPPED_REMEMBERED) this.#dropped.delete(this.#dropped.values().next().value!);
    }
  }

  /** Refuses an answer: counted as a failed poll and as a refusal for `reason`, logged as a SECURITY warning. */
  #refuse(reason: CredentialRefusal, why: string, fields?: Record<string, unknown>): 'failed' {
    this.#count('failed');
    this.#rt.store.countRefusal('trust-refresh', reason, why);
    this.#rt.logger.warn(`SECURITY: GetTrustBundle answer refused: ${why}`, fields);
    return 'failed';
  }

  #count(result: TrustRefreshOutcome): void {
    this.#rt.metrics.trustRefreshes.inc({ result });
  }
}

function sameFingerprints(a: readonly X509Certificate[], b: readonly X509Certificate[]): boolean {
  const fps = (certs: readonly X509Certificate[]): string => certs.map((c) => c.fingerprint256).sort().join();
  return fps(a) === fps(b);
}

/**
 * Why `offered` would be a step back from the bundle `held` now, or undefined when it is a step forward.
 * SECURITY: mesh CAs are made one per manifest generation, each later than the one before, and a bundle only ever
 * gains the newest. So an offered bundle may add only CAs no older than our newest, never one this process dropped
 * (whatever its date), and must keep our newest CA or bring a strictly newer one. A host answering for the
 * Coordinator could otherwise bring back a CA that two manifest updates removed (all of them are public and signed by
 * the root), or replay an earlier generation.
 */
export function stepBackProblem(offered: readonly X509Certificate[], held: readonly X509Certificate[], dropped: ReadonlySet<string>): string | undefined {
  const from = (c: X509Certificate): number => Date.parse(c.validFrom);
  const newest = held.reduce<X509Certificate | undefined>((a, c) => (a === undefined || from(c) > from(a) ? c : a), undefined);
  if (newest === undefined) return undefined;
  const heldNow = new Set(held.map((c) => c.fingerprint256));
  const back = offered.find((c) => dropped.has(c.fingerprint256));
  if (back) return `it brings back mesh CA ${describeCertificate(back)}, which an earlier bundle dropped`;
  const older = offered.find((c) => !heldNow.has(c.fingerprint256) && from(c) < from(newest));
  if (older) return `it adds mesh CA ${describeCertificate(older)}, older than the newest mesh CA in use`;
  const keepsNewest = offered.some((c) => c.fingerprint256 === newest.fingerprint256);
  if (!keepsNewest && !offered.some((c) => from(c) > from(newest))) {
    return 'it drops the newest mesh CA in use without a newer one (a replayed earlier generation)';
  }
  return undefined;
}
