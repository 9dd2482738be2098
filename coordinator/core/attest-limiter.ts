/**
 * Admission for `Attest`, the one unauthenticated RPC that costs hardware work: every call asks the platform for a
 * fresh report (SNP firmware / TDX quoting enclave), bound to the caller's nonce so it can't be shared or cached.
 * Two token buckets bound it: one per client address, so a single client can't take everyone's share, and one
 * overall, so many addresses together still can't make the Coordinator issue more than the platform can afford.
 * A refused call costs a map lookup; nothing is queued.
 */
import type { Clock } from '../../lib/clock.js';

/** At most `burst` at once, then `perSecond` on average. */
export interface RateLimit {
  readonly burst: number;
  readonly perSecond: number;
}

/** Limits on the Coordinator's own evidence issuance. */
export interface AttestLimits {
  readonly perClient: RateLimit;
  readonly overall: RateLimit;
  /** Client buckets kept; the least recently used is forgotten beyond it (it comes back full — `overall` still holds). */
  readonly maxClients: number;
}

/**
 * Defaults: a client attests once per session (`ccmesh set`, `verify`, an initializer's start), so 10 at once and 2
 * per second per address is generous; 20 reports per second overall is far below what SNP firmware or a TDX quoting
 * enclave can serve while leaving them free for the Coordinator's other work.
 */
export const DEFAULT_ATTEST_LIMITS: AttestLimits = Object.freeze({
  perClient: Object.freeze({ burst: 10, perSecond: 2 }),
  overall: Object.freeze({ burst: 40, perSecond: 20 }),
  maxClients: 10_000,
});

/**
 * Requests that use up a Coordinator nonce (NewMeshCert, RenewMeshCert, SetManifest, Recover) per client address.
 * Every consumed nonce is remembered until it expires (2 min) in a bounded set; without a per-client bound one
 * client sending junk with fresh nonces fills that set for everyone. 50 at once, then 10 per second, lets one
 * address hold at most ~1 250 of the 100 000 entries; a pod uses a handful per start and per renewal. No overall
 * bucket: many addresses are only the host's to use, and a full set refuses without forgetting anything.
 */
export const DEFAULT_NONCE_SPEND_LIMITS: AttestLimits = Object.freeze({
  perClient: Object.freeze({ burst: 50, perSecond: 10 }),
  overall: Object.freeze({ burst: Number.MAX_SAFE_INTEGER, perSecond: Number.MAX_SAFE_INTEGER }),
  maxClients: 10_000,
});

/** Which limit refused a call (a closed set: a metric label). */
export type AttestLimit = 'attest_per_client' | 'attest_overall';

/** Outcome of {@link AttestLimiter.admit}. */
export type AttestAdmission = { readonly ok: true } | { readonly ok: false; readonly limit: AttestLimit; readonly retryAfterMs: number };

class TokenBucket {
  readonly #limit: RateLimit;
  #tokens: number;
  #atMs: number;

  constructor(limit: RateLimit, nowMs: number) {
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.#atMs = nowMs;
  }

  /** Refills for the time since the last call (a clock that steps back refills nothing). */
  refill(nowMs: number): void {
    if (nowMs <= this.#atMs) return;
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + ((nowMs - this.#atMs) * this.#limit.perSecond) / 1000);
    this.#atMs = nowMs;
  }

  get hasToken(): boolean {
    return this.#tokens >= 1;
  }

  take(): void {
    this.#tokens -= 1;
  }

  /** Time until one token is back. */
  get retryAfterMs(): number {
    return Math.max(0, Math.ceil(((1 - this.#tokens) * 1000) / this.#limit.perSecond));
  }
}

/** Decides whether an `Attest` call may cost a hardware report now. */
export class AttestLimiter {
  readonly #clock: Clock;
  readonly #limits: AttestLimits;
  readonly #overall: TokenBucket;
  // Insertion order is recency order: a client is re-inserted on every call, so the first key is the least recent.
  readonly #clients = new Map<string, TokenBucket>();

  constructor(clock: Clock, limits: AttestLimits = DEFAULT_ATTEST_LIMITS) {
    this.#clock = clock;
    this.#limits = limits;
    this.#overall = new TokenBucket(limits.overall, clock.nowMs());
  }

  /** The limits in force (for messages). */
  get limits(): AttestLimits {
    return this.#limits;
  }

  /** Takes one token from `client`'s bucket and the overall bucket, or neither. */
  admit(client: string): AttestAdmission {
    const now = this.#clock.nowMs();
    let bucket = this.#clients.get(client);
    if (bucket) this.#clients.delete(client);
    else bucket = new TokenBucket(this.#limits.perClient, now);
    this.#clients.set(client, bucket);
    if (this.#clients.size > this.#limits.maxClients) {
      const oldest = this.#clients.keys().next().value;
      if (oldest !== undefined) this.#clients.delete(oldest);
    }
    bucket.refill(now);
    this.#overall.refill(now);
    if (!bucket.hasToken) return { ok: false, limit: 'attest_per_client', retryAfterMs: bucket.retryAfterMs };
    if (!this.#overall.hasToken) return { ok: false, limit: 'attest_overall', retryAfterMs: this.#overall.retryAfterMs };
    bucket.take();
    this.#overall.take();
    return { ok: true };
  }
}
