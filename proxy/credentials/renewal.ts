/**
 * The leaf renewal, a job of the credential timers (scheduler.ts, shared with the trust refresh): at ~50 % of the
 * leaf's lifetime (±10 % jitter) make a new P-256 key, have the current leaf key sign for it (`renewSignedData`), call
 * the Coordinator's `RenewMeshCert`, check the answer against the root we already trust, write the files and swap. A
 * failure keeps the old leaf and retries with exponential backoff and jitter; `failing` feeds /ready so an
 * unrenewable leaf is reported before it expires. Clock, timers and randomness are injected so tests drive the
 * schedule.
 *
 * When the Coordinator answers "fresh evidence required" (the manifest's reference values changed since this leaf's
 * generation), the loop attests with its issuer (`--tee`) and retries once with evidence bound to the new key. Without
 * an issuer the attempt fails as `evidence-required`: the leaf runs out and the restarted pod attests in its
 * initializer (docs/operations.md "Revocation bound").
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { toWireEvidence } from '../../attestation/issuers/wire-evidence.js';
import { meshCertReportData, renewKeyPossessionData, renewSignedData, signBinding } from '../../lib/protocol/binding.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import { FRESH_EVIDENCE_REQUIRED, type MeshApiMethods, type MeshCertResponse, type RenewMeshCertRequest } from '../../lib/protocol/messages.js';
import type { CredentialRefusal, ProxyMetrics } from '../metrics.js';
import { type CredentialFiles, type CredentialGeneration, refusalOf } from './generation.js';
import { stepBackProblem } from './trust-refresh.js';
import { readLeafPolicyHash } from '../../contract/policy-hash.js';
import { type Backoff, backoffDelayMs, type CredentialScheduler, type ScheduledJob } from './scheduler.js';
import type { CredentialStore } from './store.js';
import { writeTlsFiles } from '../../contract/tls-dir.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The slice of a pinned mesh-API client the loop uses (PinnedClient fits; tests may wrap it). */
export type MeshClient = Pick<PinnedClient<MeshApiMethods>, 'spki' | 'call' | 'nonce' | 'close'>;

/** Live handles of the loop. */
export interface RenewalRuntime {
  readonly store: CredentialStore;
  readonly connect: () => Promise<MeshClient>;
  readonly clock: Clock;
  /** The credential timers the renewal runs on (shared with the trust refresh; one stop() for both). */
  readonly scheduler: CredentialScheduler;
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
  readonly #backoff: Backoff;
  readonly #job: ScheduledJob<boolean>;
  #failures = 0;
  #issuer: Promise<EvidenceIssuer> | undefined;

  constructor(rt: RenewalRuntime, opts: RenewalOptions = {}) {
    this.#rt = rt;
    this.#backoff = { firstMs: opts.firstBackoffMs ?? 5_000, maxMs: opts.maxBackoffMs ?? 300_000 };
    // Each attempt arms the next one itself (from the new leaf, or a backoff), also when asked for with renewNow.
    this.#job = rt.scheduler.job(() => this.#attempt());
  }

  /** True while the last attempt failed (reset by a success). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /** Schedules the first renewal from the current leaf. */
  start(): void {
    this.#scheduleFromLeaf();
  }

  /** Renews now (also what the timer calls); resolves true on success. Concurrent calls share one attempt. */
  renewNow(): Promise<boolean> {
    return this.#job.runNow();
  }

  /**
   * Moves the next renewal forward to at most `delayMs` from now (a later one is left alone). The trust refresh
   * uses it after adopting a new mesh CA bundle, so the leaf from the new CA follows once peers trust that CA.
   */
  renewWithin(delayMs: number): void {
    this.#job.runWithin(delayMs);
  }

  /** Delay until the next renewal: 50 % of the lifetime ±10 %, from notBefore. */
  nextDelayMs(): number {
    const g = this.#rt.store.current;
    const life = g.notAfterMs - g.notBeforeMs;
    const jitter = ((this.#rt.random ?? Math.random)() * 2 - 1) * 0.1;
    return Math.max(0, g.notBeforeMs + life * (0.5 + jitter) - this.#rt.clock.nowMs());
  }

  #scheduleFromLeaf(): void {
    if (this.#job.stopped) return;
    const delay = this.nextDelayMs();
    this.#rt.logger.info('leaf renewal scheduled', { inMs: Math.round(delay) });
    this.#job.runIn(delay);
  }

  #scheduleRetry(): void {
    if (this.#job.stopped) return;
    this.#job.runIn(backoffDelayMs(this.#failures, this.#backoff, this.#rt.random ?? Math.random));
  }

  async #attempt(): Promise<boolean> {
    try {
      const files = await this.#renew();
      // SECURITY: checked (against the pinned root) before anything reaches the disk. Written first, an answer that
      // fails the checks would replace the working key and leaf in the TLS directory, and the sidecar would not start
      // again after a restart.
      const checked = this.#rt.store.check(files);
      if (!checked.ok) throw new RefusedAnswer(refusalOf(checked), `renewed credentials: ${checked.reason}`);
      sameIdentityForward(this.#rt.store.current, checked.generation);
      await this.#rt.store.exclusive(async () => {
        await writeTlsFiles(this.#rt.store.dir, files);
        const applied = this.#rt.store.applyFiles(files, 'renewal');
        if (!applied.ok) throw new CcmeshError(ErrorCode.PROXY_RENEWAL_INVALID, `renewed credentials: ${applied.reason}`);
      });
      this.#failures = 0;
      this.#rt.metrics.renewals.inc({ result: 'success' });
      this.#rt.logger.info('leaf renewed', { serial: this.#rt.store.current.leaf.serialNumber, notAfter: this.#rt.store.current.leaf.validTo });
      this.#scheduleFromLeaf();
      return true;
    } catch (err) {
      this.#failures++;
      if (err instanceof RefusedAnswer) this.#rt.store.countRefusal('renewal', err.refusal, err.message);
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
        res = await client.call('RenewMeshCert', await renewRequest(client, current.files.chain, current.key, privateKey, newSpki));
      } catch (err) {
        if (!isFreshEvidenceRequired(err)) throw err;
        const issuer = await this.#evidenceIssuer(err);
        this.#rt.logger.info('the Coordinator wants fresh evidence to renew; attesting', { issuer: issuer.name });
        // One retry: a new nonce (the first was consumed), evidence bound to the same new key.
        res = await client.call('RenewMeshCert', await renewRequest(client, current.files.chain, current.key, privateKey, newSpki, issuer));
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

/**
 * A RenewMeshCert request: `leafKey` signs for `newSpki` over a fresh nonce, `newKey` signs for itself (proof of
 * possession); with `issuer`, evidence bound to both.
 */
async function renewRequest(client: MeshClient, certChain: string, leafKey: KeyObject, newKey: KeyObject, newSpki: Uint8Array, issuer?: EvidenceIssuer): Promise<RenewMeshCertRequest> {
  const nonce = await client.nonce();
  const signature = signBinding(renewSignedData(newSpki, nonce, client.spki), leafKey);
  const newKeySignature = signBinding(renewKeyPossessionData(newSpki, nonce, client.spki), newKey);
  const evidence = issuer ? toWireEvidence(await issuer.issue(meshCertReportData(newSpki, nonce, client.spki))) : undefined;
  return { certChain, publicKey: newSpki, nonce, signature, newKeySignature, ...(evidence ? { evidence } : {}) };
}

/** The Coordinator's FAILED_PRECONDITION "fresh evidence required" refusal, as the pinned client reports it. */
function isFreshEvidenceRequired(err: unknown): boolean {
  return err instanceof CcmeshError && err.message.includes(`FAILED_PRECONDITION: ${FRESH_EVIDENCE_REQUIRED}`);
}

/** A renewal answer refused by a check, with the reason `ccmesh_proxy_credential_refusals_total` counts it under. */
class RefusedAnswer extends CcmeshError {
  readonly refusal: CredentialRefusal;

  constructor(refusal: CredentialRefusal, message: string) {
    super(ErrorCode.PROXY_RENEWAL_INVALID, message);
    this.refusal = refusal;
  }
}

/**
 * SECURITY: the mesh-API channel is pinned but the sidecar does not attest the Coordinator again, so the answer is
 * trusted only through the root CA the initializer obtained after attestation (`pinnedRootPem`: the root of the
 * generation in use, which the store keeps equal to the root the sidecar started with): the returned root must be
 * the same certificate, and the store's check then requires that root, bundle ← root and leaf ← bundle and the leaf
 * to match our new key. A relay can't reuse our signature elsewhere: it binds the Coordinator's TLS key.
 */
function checkRenewal(res: MeshCertResponse, key: KeyObject, pinnedRootPem: string): CredentialFiles {
  if (typeof res?.certChain !== 'string' || typeof res.meshCaBundle !== 'string' || typeof res.rootCa !== 'string') {
    throw new RefusedAnswer('invalid', 'RenewMeshCert response lacks certChain, meshCaBundle or rootCa');
  }
  if (normalisePem(res.rootCa) !== normalisePem(pinnedRootPem)) {
    throw new RefusedAnswer('root-changed', 'RenewMeshCert returned a root CA other than the one this pod trusts');
  }
  return { key: key.export({ type: 'pkcs8', format: 'pem' }).toString(), chain: res.certChain, meshCaBundle: res.meshCaBundle, rootCa: pinnedRootPem };
}

/**
 * SECURITY: a renewal gives the same pod a new key, nothing else. The new leaf must name the policy the current one
 * names (a leaf of another identity would make this pod someone else), and its bundle must not step back from the one
 * in use (the trust refresh's rule: no CA older than our newest, keep our newest or bring a newer one).
 */
function sameIdentityForward(current: CredentialGeneration, next: CredentialGeneration): void {
  const before = readLeafPolicyHash(current.leaf);
  const after = readLeafPolicyHash(next.leaf);
  if (after === undefined || after !== before) {
    throw new RefusedAnswer('identity-changed', `renewed credentials: the new leaf names policy ${after ?? '(none)'}, not this pod's policy ${before ?? '(none)'}`);
  }
  const back = stepBackProblem(next.bundle, current.bundle, new Set());
  if (back !== undefined) throw new RefusedAnswer('invalid', `renewed credentials: the mesh CA bundle steps back: ${back}`);
}

function normalisePem(pem: string): string {
  return pem.replace(/\s+/g, '');
}
