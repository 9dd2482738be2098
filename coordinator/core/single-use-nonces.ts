/**
 * Single-use, short-lived Coordinator nonces that cost no memory to hand out.
 *
 * A nonce is `expiry ‖ random ‖ tag` (8 + 8 + 16 = 32 bytes): the expiry in ms since the epoch (uint64 BE), 64 random
 * bits, and the first 16 bytes of HMAC-SHA256 under a key made at start and never stored or sent. Issuing keeps no
 * state, so nothing a client does with `GetNonce` can push out another client's nonce. What has to be remembered is
 * which nonces were *used*: the first request that presents a genuine, unexpired nonce (valid or not otherwise)
 * records it in a replay set until its expiry, and every later presentation is refused.
 *
 * SECURITY: the replay set is bounded. When it is full, a nonce is refused as `busy` (RESOURCE_EXHAUSTED) and not
 * recorded — it is never forgotten early, so a full set can delay a request but never admit a replay.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { NONCE_LENGTH } from '../../lib/protocol/messages.js';

/** Defaults of {@link NonceAuthority}. */
export const NONCE_DEFAULTS = Object.freeze({
  /** How long a nonce stays valid. */
  ttlMs: 120_000,
  /** Most used-but-unexpired nonces remembered at once (about 100 bytes each). */
  maxConsumed: 100_000,
});

/** Options of {@link NonceAuthority}. */
export interface NonceAuthorityOptions {
  readonly clock: Clock;
  readonly ttlMs?: number;
  readonly maxConsumed?: number;
  /** MAC key; default 32 random bytes. Only tests pass one. */
  readonly key?: Uint8Array;
}

/** Why a nonce was not accepted. */
export type NonceRejection = 'unknown' | 'expired' | 'reused' | 'busy';

const EXPIRY_BYTES = 8;
const RANDOM_BYTES = 8;
const BODY_BYTES = EXPIRY_BYTES + RANDOM_BYTES;
const TAG_BYTES = NONCE_LENGTH - BODY_BYTES;
const MAC_LABEL = Buffer.from('ccmesh/coordinator-nonce/v1\0');
const BUCKET_MS = 1000;

/** Issues stateless MAC'd nonces and consumes each at most once. */
export class NonceAuthority {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxConsumed: number;
  readonly #key: Buffer;
  // Used nonces by expiry second: a nonce's bucket is known from its bytes, and whole buckets expire at once.
  readonly #consumed = new Map<number, Set<string>>();
  #consumedCount = 0;
  #nextSweepMs = 0;

  constructor(opts: NonceAuthorityOptions) {
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs ?? NONCE_DEFAULTS.ttlMs;
    this.#maxConsumed = opts.maxConsumed ?? NONCE_DEFAULTS.maxConsumed;
    this.#key = Buffer.from(opts.key ?? randomBytes(32));
  }

  /** A fresh nonce, valid for the TTL. */
  issue(): Uint8Array {
    const nonce = Buffer.alloc(NONCE_LENGTH);
    nonce.writeBigUInt64BE(BigInt(this.#clock.nowMs() + this.#ttlMs), 0);
    randomBytes(RANDOM_BYTES).copy(nonce, EXPIRY_BYTES);
    this.#tag(nonce.subarray(0, BODY_BYTES)).copy(nonce, BODY_BYTES);
    return new Uint8Array(nonce);
  }

  /** Consumes `nonce`: ok once for a nonce we issued that has not expired; never ok again. */
  consume(nonce: Uint8Array): { ok: true } | { ok: false; reason: NonceRejection } {
    if (nonce.length !== NONCE_LENGTH) return { ok: false, reason: 'unknown' };
    const bytes = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength);
    if (!timingSafeEqual(this.#tag(bytes.subarray(0, BODY_BYTES)), bytes.subarray(BODY_BYTES))) return { ok: false, reason: 'unknown' };
    const expires = Number(bytes.readBigUInt64BE(0));
    const now = this.#clock.nowMs();
    if (now > expires) return { ok: false, reason: 'expired' };
    this.#sweep(now);
    const bucket = Math.floor(expires / BUCKET_MS);
    const id = bytes.toString('base64', 0, BODY_BYTES);
    const used = this.#consumed.get(bucket);
    if (used?.has(id)) return { ok: false, reason: 'reused' };
    if (this.#consumedCount >= this.#maxConsumed) return { ok: false, reason: 'busy' };
    if (used) used.add(id);
    else this.#consumed.set(bucket, new Set([id]));
    this.#consumedCount++;
    return { ok: true };
  }

  /** Used nonces still remembered (for metrics and tests); issuing never changes it. */
  get consumedCount(): number {
    return this.#consumedCount;
  }

  #tag(body: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(MAC_LABEL).update(body).digest().subarray(0, TAG_BYTES);
  }

  /** Drops buckets whose every nonce has expired; at most once per bucket width. */
  #sweep(now: number): void {
    // (A clock that stepped back by more than a bucket sweeps at once instead of waiting for the old time.)
    if (now < this.#nextSweepMs && this.#nextSweepMs - now <= BUCKET_MS) return;
    this.#nextSweepMs = now + BUCKET_MS;
    for (const [bucket, ids] of this.#consumed) {
      if ((bucket + 1) * BUCKET_MS <= now) {
        this.#consumedCount -= ids.size;
        this.#consumed.delete(bucket);
      }
    }
  }
}
