/**
 * Walking the transition chain backwards. With honest SHA-256 a cycle cannot be built, so one seen here means a
 * broken hash check or a store lying to us; the walk refuses it, and bounds its length, instead of looping.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { TransitionHash } from './hashes.js';
import type { Transition } from './transition.js';

/** Default bound on the number of transitions a walk visits. */
export const MAX_WALK_STEPS = 100_000;

/** One visited transition. */
export interface WalkStep {
  readonly hash: TransitionHash;
  readonly transition: Transition;
}

/** Yields `from` and each earlier transition, newest first, loading each with `load`; throws STORE_CORRUPT on a cycle or overlong chain. */
export async function* walkTransitions(
  from: TransitionHash,
  load: (hash: TransitionHash) => Promise<Transition>,
  maxSteps = MAX_WALK_STEPS,
): AsyncGenerator<WalkStep> {
  const seen = new Set<string>();
  let hash: TransitionHash | '' = from;
  while (hash !== '') {
    if (seen.has(hash)) throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history has a cycle at transition ${hash}`);
    if (seen.size >= maxSteps) {
      throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history from ${from} is longer than ${maxSteps} transitions`);
    }
    seen.add(hash);
    const transition = await load(hash);
    yield { hash, transition };
    hash = transition.previousTransitionHash;
  }
}
