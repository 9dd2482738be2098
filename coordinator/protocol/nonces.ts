/**
 * Single-use, short-lived nonces the Coordinator hands out for evidence and signatures. A nonce is consumed by the
 * first request that presents it, valid or not, so captured evidence can never be replayed; the store is bounded so
 * a client asking for nonces in a loop can't grow memory.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { NONCE_LENGTH } from '../../lib/protocol/messages.js';

/** Options of {@link NonceStore}. */
export interface NonceStoreOptions {
  readonly clock: Clock;
  /** How long a nonce stays valid; default 2 minutes. */
  readonly ttlMs?: number;
  /** Most outstanding nonces; the oldest are dropped beyond it. Default 10 000. */
  readonly max?: number;
}

/** Why a nonce was not accepted. */
export type NonceRejection = 'unknown' | 'expired';

/** Issues and consumes nonces. */
export class NonceStore {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #max: number;
  // Map keeps insertion order, which is issue order: the first entries are the oldest.
  readonly #issued = new Map<string, number>();

  constructor(opts: NonceStoreOptions) {
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs ?? 120_000;
    this.#max = opts.max ?? 10_000;
  }

  /** A fresh random nonce. */
  issue(): Uint8Array {
    const nonce = new Uint8Array(randomBytes(NONCE_LENGTH));
    this.#issued.set(Buffer.from(nonce).toString('hex'), this.#clock.nowMs() + this.#ttlMs);
    while (this.#issued.size > this.#max) {
      const oldest = this.#issued.keys().next().value;
      if (oldest === undefined) break;
      this.#issued.delete(oldest);
    }
    return nonce;
  }

  /** Consumes `nonce`: true once for a nonce we issued and that has not expired; never true again. */
  consume(nonce: Uint8Array): { ok: true } | { ok: false; reason: NonceRejection } {
    const key = Buffer.from(nonce).toString('hex');
    const expires = this.#issued.get(key);
    if (expires === undefined) return { ok: false, reason: 'unknown' };
    this.#issued.delete(key);
    if (this.#clock.nowMs() > expires) return { ok: false, reason: 'expired' };
    return { ok: true };
  }

  /** Number of outstanding nonces (for metrics and tests). */
  get size(): number {
    return this.#issued.size;
  }
}
