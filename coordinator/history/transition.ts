/**
 * A transition: one step of the manifest history, naming the manifest it moved to and the transition before it
 * ("" for the first). Its canonical form is compact JSON with the keys in this fixed order; since the hash is
 * taken over these bytes, a stored transition that is not byte-for-byte canonical is refused.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { isSha256Hex } from './hashes.js';
import type { ManifestHash, TransitionHash } from './hashes.js';

/** One step of the history. */
export interface Transition {
  readonly manifestHash: ManifestHash;
  /** The transition this one follows; "" for the first. */
  readonly previousTransitionHash: TransitionHash | '';
}

/** The canonical bytes of `t`; throws HISTORY_ADVANCE_INVALID for malformed hashes (a caller bug). */
export function encodeTransition(t: Transition): Uint8Array {
  if (!isSha256Hex(t.manifestHash) || (t.previousTransitionHash !== '' && !isSha256Hex(t.previousTransitionHash))) {
    throw new CcmeshError(ErrorCode.HISTORY_ADVANCE_INVALID, `transition ${JSON.stringify(t)} does not hold lowercase hex SHA-256 hashes`);
  }
  return new TextEncoder().encode(JSON.stringify({ manifestHash: t.manifestHash, previousTransitionHash: t.previousTransitionHash }));
}

/** Parses the stored transition under `key`; throws STORE_CORRUPT unless the bytes are a canonical transition. */
export function parseTransition(key: string, bytes: Uint8Array): Transition {
  let t: Transition | undefined;
  try {
    const raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    if (typeof raw === 'object' && raw !== null) {
      const { manifestHash, previousTransitionHash } = raw as Record<string, unknown>;
      if (typeof manifestHash === 'string' && typeof previousTransitionHash === 'string') {
        t = { manifestHash: manifestHash as ManifestHash, previousTransitionHash: previousTransitionHash as TransitionHash | '' };
      }
    }
  } catch (err) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history record ${key} is not a transition: not UTF-8 JSON`, { cause: err });
  }
  // Re-encoding both validates the hashes and rejects extra keys, other key orders and whitespace.
  let canonical: Uint8Array | undefined;
  try {
    canonical = t === undefined ? undefined : encodeTransition(t);
  } catch {
    canonical = undefined;
  }
  if (t === undefined || canonical === undefined || Buffer.compare(canonical, bytes) !== 0) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history record ${key} is not a canonical transition`);
  }
  return t;
}
