/**
 * The leaf renewal loop: at ~50 % of the leaf's lifetime (±10 % jitter) make a new P-256 key, have the current
 * leaf key sign for it (`renewSignedData`), call the Coordinator's `RenewMeshCert`, check the answer against the
 * root we already trust, write the files and swap. A failure keeps the old leaf and retries with exponential
 * backoff and jitter; `failing` feeds /ready so an unrenewable leaf is reported before it expires. Clock, timers
 * and randomness are injected so tests drive the schedule.
 *
 * When the Coordinator answers "fresh evidence required" (the manifest's reference values changed since this leaf's
 * generation), the loop attests with its issuer (`--tee`) and retries once with evidence bound to the new key. Without
 * an issuer the attempt fails as `evidence-required`: the leaf runs out and the restarted pod attests in its
 * initializer (docs/operations.md "Revocation bound").
 */
import { generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';
import type { Clock } from '../../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { EvidenceIssuer } from '../../../attestation/issuers/evidence.js';
import { toWireEvidence } from '../../../attestation/issuers/wire-evidence.js';
import { meshCertReportData, renewSignedData } from '../../../lib/protocol/binding.js';
import { FRESH_EVIDENCE_REQUIRED, type MeshCertResponse, writeEvidence } from '../../../lib/protocol/messages.js';
import { b64, WireReader } from '../../../lib/protocol/wire.js';
import type { ProxyMetrics } from '../metrics.js';
import type { TimerHandle, Timers } from '../timers.js';
import { buildGeneration, type CredentialFiles } from './generation.js';
import type { CredentialStore } from './store.js';
import { writeTlsFiles } from '../../../contract/tls-dir.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The slice of a pinned mesh-API client the loop uses (PinnedClient fits; tests may wrap it). */
export interface MeshClient {
  readonly spki: Uint8Array;
  call<T>(method: string, request: unknown): Promise<T>;
  close(): void;
}

/** Live handles of the loop. */
export interface RenewalRuntime {
  readonly store: CredentialStore;
  readonly connect: () => Promise<MeshClient>;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  /** Uniform [0, 1); Math.random in production. */
  readonly random?: () => number;
  /**
   * Builds the evidence issuer for renewals that need fresh evidence (`--tee`), on first use. Absent: such a renewal
   * fails as `evidence-required` until the leaf expires.
   */
  readonly issuer?: () => Promise<EvidenceIssuer>;
}

/** Schedule tunables. */
export interface RenewalOptions {
  readonly firstBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** Renews the leaf on a timer. */
export class RenewalLoop {
  readonly #rt: RenewalRuntime;
  readonly #firstBackoffMs: number;
  readonly #maxBackoffMs: number;
  #timer: TimerHandle | undefined;
  #dueAtMs = Number.POSITIVE_INFINITY;
  #failures = 0;
  #running: Promise<boolean> | undefined;
  #stopped = false;
  #issuer: Promise<EvidenceIssuer> | undefined;

  constructor(rt: RenewalRuntime, opts: RenewalOptions = {}) {
    this.#rt = rt;
    this.#firstBackoffMs = opts.firstBackoffMs ?? 5_000;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 300_000;
  }

  /** True while the last attempt failed (reset by a success). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /** Schedules the first renewal from the current leaf. */
  start(): void {
    this.#scheduleFromLeaf();
  }

  /** Cancels the timer; an attempt in flight finishes but schedules nothing. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }

  /** Renews now (also what the timer calls); resolves true on success. Concurrent calls share one attempt. */
  renewNow(): Promise<boolean> {
    this.#running ??= this.#attempt().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * Moves the next renewal forward to at most `delayMs` from now (a later one is left alone). The trust refresh
   * uses it after adopting a new mesh CA bundle, so the leaf from the new CA follows once peers trust that CA.
   */
  renewWithin(delayMs: number): void {
    if (this.#stopped) return;
    const due = this.#rt.clock.nowMs() + Math.max(0, delayMs);
    if (due >= this.#dueAtMs && this.#timer) return;
    this.#arm(Math.max(0, delayMs));
  }

  /** Delay until the next renewal: 50 % of the lifetime ±10 %, from notBefore. */
  nextDelayMs(): number {
    const g = this.#rt.store.current;
    const life = g.notAfterMs - g.notBeforeMs;
    const jitter = ((this.#rt.random ?? Math.random)() * 2 - 1) * 0.1;
    return Math.max(0, g.notBeforeMs + life * (0.5 + jitter) - this.#rt.clock.nowMs());
  }

  #scheduleFromLeaf(): void {
    if (this.#stopped) return;
    const delay = this.nextDelayMs();
    this.#rt.logger.info('leaf renewal scheduled', { inMs: Math.round(delay) });
    this.#arm(delay);
  }

  #arm(delayMs: number): void {
    this.#timer?.cancel();
    this.#dueAtMs = this.#rt.clock.nowMs() + delayMs;
    this.#timer = this.#rt.timers.after(delayMs, () => {
      this.#timer = undefined;
      this.#dueAtMs = Number.POSITIVE_INFINITY;
      void this.renewNow();
    });
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    const base = Math.min(this.#maxBackoffMs, this.#firstBackoffMs * 2 ** Math.min(this.#failures - 1, 30));
    const delay = base * (0.5 + (this.#rt.random ?? Math.random)());
    this.#arm(delay);
  }

  async #attempt(): Promise<boolean> {
    try {
      const files = await this.#renew();
      // SECURITY: checked before anything reaches the disk. Written first, an answer that fails the checks would
      // replace the working key and leaf in the TLS directory, and the sidecar would not start again after a restart.
      const checked = buildGeneration(files, this.#rt.clock.nowMs());
      if (!checked.ok) throw new CcmeshError(ErrorCode.PROXY_RENEWAL_INVALID, `renewed credentials: ${checked.reason}`);
      await this.#rt.store.exclusive(async () => {
        await writeTlsFiles(this.#rt.store.dir, files);
        const applied = this.#rt.store.applyFiles(files);
        if (!applied.ok) throw new CcmeshError(ErrorCode.PROXY_RENEWAL_INVALID, `renewed credentials: ${applied.reason}`);
      });
      this.#failures = 0;
      this.#rt.metrics.renewals.inc({ result: 'success' });
      this.#rt.logger.info('leaf renewed', { serial: this.#rt.store.current.leaf.serialNumber, notAfter: this.#rt.store.current.leaf.validTo });
      this.#scheduleFromLeaf();
      return true;
    } catch (err) {
      this.#failures++;
      if (err instanceof CcmeshError && err.code === ErrorCode.PROXY_RENEWAL_EVIDENCE_REQUIRED) {
        this.#rt.metrics.renewals.inc({ result: 'evidence-required' });
        this.#rt.logger.warn('leaf renewal needs fresh evidence and this sidecar has no evidence issuer (--tee); the leaf will expire and the pod must restart to attest again', {
          err, failures: this.#failures, notAfter: this.#rt.store.current.leaf.validTo,
        });
      } else {
        this.#rt.metrics.renewals.inc({ result: 'failure' });
        this.#rt.logger.warn('leaf renewal failed; keeping the current leaf', { err, failures: this.#failures });
      }
      this.#scheduleRetry();
      return false;
    }
  }

  async #renew(): Promise<CredentialFiles> {
    const current = this.#rt.store.current;
    const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const newSpki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const client = await this.#rt.connect();
    let res: MeshCertResponse;
    try {
      try {
        res = await client.call<MeshCertResponse>('RenewMeshCert', await renewRequest(client, current.files.chain, current.key, newSpki));
      } catch (err) {
        if (!isFreshEvidenceRequired(err)) throw err;
        const issuer = await this.#evidenceIssuer(err);
        this.#rt.logger.info('the Coordinator wants fresh evidence to renew; attesting', { issuer: issuer.name });
        // One retry: a new nonce (the first was consumed), evidence bound to the same new key.
        res = await client.call<MeshCertResponse>('RenewMeshCert', await renewRequest(client, current.files.chain, current.key, newSpki, issuer));
      }
    } finally {
      client.close();
    }
    return checkRenewal(res, privateKey, current.files.rootCa);
  }

  /** The issuer for a renewal refused with "fresh evidence required" (`cause`); PROXY_RENEWAL_EVIDENCE_REQUIRED without one. */
  async #evidenceIssuer(cause: unknown): Promise<EvidenceIssuer> {
    const build = this.#rt.issuer;
    if (!build) {
      throw new CcmeshError(ErrorCode.PROXY_RENEWAL_EVIDENCE_REQUIRED, 'the Coordinator requires fresh evidence to renew this leaf (the manifest\'s reference values changed) and the sidecar has no evidence issuer (--tee)', { cause });
    }
    this.#issuer ??= build();
    try {
      return await this.#issuer;
    } catch (err) {
      // Not cached: the next attempt tries to build it again.
      this.#issuer = undefined;
      throw err;
    }
  }
}

/** A RenewMeshCert request: `leafKey` signs for `newSpki` over a fresh nonce; with `issuer`, evidence bound to both. */
async function renewRequest(client: MeshClient, certChain: string, leafKey: KeyObject, newSpki: Uint8Array, issuer?: EvidenceIssuer): Promise<Record<string, unknown>> {
  const nonce = new WireReader('GetNonce response', await client.call('GetNonce', {})).bytes('nonce', 32, 32);
  const signature = sign('sha256', renewSignedData(newSpki, nonce, client.spki), leafKey);
  const request: Record<string, unknown> = { certChain, publicKey: b64(newSpki), nonce: b64(nonce), signature: b64(signature) };
  if (issuer) request['evidence'] = writeEvidence(toWireEvidence(await issuer.issue(meshCertReportData(newSpki, nonce, client.spki))));
  return request;
}

/** The Coordinator's FAILED_PRECONDITION "fresh evidence required" refusal, as the pinned client reports it. */
function isFreshEvidenceRequired(err: unknown): boolean {
  return err instanceof CcmeshError && err.message.includes(`FAILED_PRECONDITION: ${FRESH_EVIDENCE_REQUIRED}`);
}

/**
 * SECURITY: the mesh-API channel is pinned but the sidecar does not attest the Coordinator again, so the answer is
 * trusted only through the root CA the initializer obtained after attestation: the returned root must be the same
 * certificate, and buildGeneration (run by applyFiles) then requires bundle ← root and leaf ← bundle and the leaf
 * to match our new key. A relay can't reuse our signature elsewhere: it binds the Coordinator's TLS key.
 */
function checkRenewal(res: MeshCertResponse, key: KeyObject, pinnedRootPem: string): CredentialFiles {
  if (typeof res?.certChain !== 'string' || typeof res.meshCaBundle !== 'string' || typeof res.rootCa !== 'string') {
    throw new CcmeshError(ErrorCode.PROXY_RENEWAL_INVALID, 'RenewMeshCert response lacks certChain, meshCaBundle or rootCa');
  }
  if (normalisePem(res.rootCa) !== normalisePem(pinnedRootPem)) {
    throw new CcmeshError(ErrorCode.PROXY_RENEWAL_INVALID, 'RenewMeshCert returned a root CA other than the one this pod trusts');
  }
  return { key: key.export({ type: 'pkcs8', format: 'pem' }).toString(), chain: res.certChain, meshCaBundle: res.meshCaBundle, rootCa: pinnedRootPem };
}

function normalisePem(pem: string): string {
  return pem.replace(/\s+/g, '');
}
