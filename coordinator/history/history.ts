/**
 * The content-addressed manifest history over a {@link Store}:
 *
 *   manifests/<sha256>    manifest documents as set
 *   policies/<sha256>     raw policy / initdata documents (the hash is the pod's HOST_DATA)
 *   transitions/<sha256>  canonical {manifestHash, previousTransitionHash}
 *   latest                signed {transitionHash, signature}, moved only by compare-and-swap
 *
 * Blobs are immutable and written before the pointer that makes them reachable, so a crash between the two leaves
 * unreachable blobs, never a pointer to nothing. Every read re-hashes and refuses a mismatch.
 */
import type { KeyObject } from 'node:crypto';
import type { PolicyHash } from '../../lib/brand.js';
import { bytesEqual } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Store } from '../store/store.js';
import { isSha256Hex, sha256Hex } from './hashes.js';
import type { ManifestHash, TransitionHash } from './hashes.js';
import { encodeLatest, parseLatest, signLatest, verifyLatest } from './latest-pointer.js';
import { encodeTransition, parseTransition } from './transition.js';
import type { Transition } from './transition.js';
import { MAX_WALK_STEPS, walkTransitions } from './walk.js';
import type { WalkStep } from './walk.js';

/** Store keys and prefixes the history owns. */
export const HISTORY_KEYS = {
  manifests: 'manifests/',
  policies: 'policies/',
  transitions: 'transitions/',
  latest: 'latest',
} as const;

/** What {@link History.readLatest} found. */
export interface LatestRead {
  readonly transitionHash: TransitionHash;
  /** The store revision of `latest`; pass it to {@link History.advanceLatest}. */
  readonly revision: number;
  /** True only when the signature was checked against a key and held. */
  readonly verified: boolean;
}

/** Outcome of {@link History.advanceLatest}: `ok: false` means another writer moved `latest` first. */
export type AdvanceResult = { ok: true; revision: number } | { ok: false };

/** Manifests, policies, transitions and the signed `latest` pointer, all verified on read. */
export class History {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Stores a manifest document (idempotent); returns its hash. */
  async putManifest(bytes: Uint8Array): Promise<ManifestHash> {
    return (await this.#putBlob(HISTORY_KEYS.manifests, bytes)) as ManifestHash;
  }

  /** The manifest with `hash`, re-hashed; undefined when absent. */
  async getManifest(hash: ManifestHash): Promise<Uint8Array | undefined> {
    return this.#getBlob(HISTORY_KEYS.manifests, hash);
  }

  /** Stores a raw policy / initdata document (idempotent); returns its hash. */
  async putPolicy(bytes: Uint8Array): Promise<PolicyHash> {
    return (await this.#putBlob(HISTORY_KEYS.policies, bytes)) as PolicyHash;
  }

  /** The policy document with `hash`, re-hashed; undefined when absent. */
  async getPolicy(hash: PolicyHash): Promise<Uint8Array | undefined> {
    return this.#getBlob(HISTORY_KEYS.policies, hash);
  }

  /** Stores a transition in canonical form (idempotent); returns its hash. */
  async putTransition(t: Transition): Promise<TransitionHash> {
    return (await this.#putBlob(HISTORY_KEYS.transitions, encodeTransition(t))) as TransitionHash;
  }

  /** The transition with `hash`, re-hashed and canonical; undefined when absent. */
  async getTransition(hash: TransitionHash): Promise<Transition | undefined> {
    const bytes = await this.#getBlob(HISTORY_KEYS.transitions, hash);
    return bytes === undefined ? undefined : parseTransition(HISTORY_KEYS.transitions + hash, bytes);
  }

  /** True when a history exists (a `latest` pointer): the Coordinator starts in recovery mode, not fresh. */
  async exists(): Promise<boolean> {
    return (await this.#store.get(HISTORY_KEYS.latest)) !== undefined;
  }

  /**
   * The current pointer. With `verifyKey` its signature must hold (else HISTORY_SIGNATURE_INVALID); without one
   * — recovery mode, before the seed is known — it is returned with `verified: false`.
   */
  async readLatest(verifyKey?: KeyObject): Promise<LatestRead | undefined> {
    const entry = await this.#store.get(HISTORY_KEYS.latest);
    if (entry === undefined) return undefined;
    const pointer = parseLatest(HISTORY_KEYS.latest, entry.value);
    if (verifyKey === undefined) return { transitionHash: pointer.transitionHash, revision: entry.revision, verified: false };
    if (!verifyLatest(pointer, verifyKey)) {
      throw new CcmeshError(
        ErrorCode.HISTORY_SIGNATURE_INVALID,
        `the history pointer '${HISTORY_KEYS.latest}' (transition ${pointer.transitionHash}) is not signed by the history key: wrong seed, or the store was tampered with`,
      );
    }
    return { transitionHash: pointer.transitionHash, revision: entry.revision, verified: true };
  }

  /**
   * Points `latest` at `transitionHash`, signed with `signingKey`, if `latest` is still at `expectedRevision`
   * (0 = no history yet). The transition must be stored and must extend the current one: history is a line.
   */
  async advanceLatest(transitionHash: TransitionHash, signingKey: KeyObject, expectedRevision: number): Promise<AdvanceResult> {
    const t = isSha256Hex(transitionHash) ? await this.getTransition(transitionHash) : undefined;
    if (t === undefined) {
      throw new CcmeshError(ErrorCode.HISTORY_ADVANCE_INVALID, `cannot advance history to transition ${transitionHash}: it is not stored`);
    }
    const cur = await this.#store.get(HISTORY_KEYS.latest);
    if ((cur?.revision ?? 0) !== expectedRevision) return { ok: false };
    const curHash = cur === undefined ? '' : parseLatest(HISTORY_KEYS.latest, cur.value).transitionHash;
    if (t.previousTransitionHash !== curHash) {
      throw new CcmeshError(
        ErrorCode.HISTORY_ADVANCE_INVALID,
        `cannot advance history to transition ${transitionHash}: it follows ${JSON.stringify(t.previousTransitionHash)}, but latest is ${JSON.stringify(curHash)}`,
      );
    }
    const pointer = { transitionHash, signature: signLatest(transitionHash, signingKey) };
    // The store's compare-and-swap, not the check above, is what makes a concurrent writer lose.
    const r = await this.#store.compareAndSwap(HISTORY_KEYS.latest, expectedRevision, encodeLatest(pointer));
    return r.ok ? { ok: true, revision: r.revision } : { ok: false };
  }

  /** Transitions from `from` back to the first, newest first; a missing link, cycle or overlong chain is STORE_CORRUPT. */
  walk(from: TransitionHash, maxSteps = MAX_WALK_STEPS): AsyncGenerator<WalkStep> {
    return walkTransitions(
      from,
      async (hash) => {
        const t = await this.getTransition(hash);
        if (t === undefined) throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history transition ${hash} is referenced but missing`);
        return t;
      },
      maxSteps,
    );
  }

  async #putBlob(prefix: string, bytes: Uint8Array): Promise<string> {
    const hash = sha256Hex(bytes);
    const key = prefix + hash;
    const r = await this.#store.compareAndSwap(key, 0, bytes);
    if (r.ok || (r.current !== undefined && bytesEqual(r.current.value, bytes))) return hash;
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `store key ${key} already holds different content than its hash names`);
  }

  async #getBlob(prefix: string, hash: string): Promise<Uint8Array | undefined> {
    if (!isSha256Hex(hash)) {
      throw new CcmeshError(ErrorCode.STORE_KEY_INVALID, `history hash ${JSON.stringify(hash)} is not 64 lowercase hex digits`);
    }
    const key = prefix + hash;
    const entry = await this.#store.get(key);
    if (entry === undefined) return undefined;
    const actual = sha256Hex(entry.value);
    if (actual !== hash) throw new CcmeshError(ErrorCode.STORE_CORRUPT, `store key ${key} holds content whose SHA-256 is ${actual}`);
    return entry.value;
  }
}
