/**
 * The `latest` pointer: which transition is current, signed with the history signing key (derived from the seed)
 * so a Coordinator that recovers can tell its own history from one written by someone else.
 *
 * SECURITY: the signature proves who wrote a pointer, not that it is the newest — anyone able to write the store
 * can put back an older, validly signed pointer (rollback). Workload owners detect that by comparing the history
 * `ccmesh verify` shows them with the manifest they set.
 */
import { createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { isSha256Hex } from './hashes.js';
import type { TransitionHash } from './hashes.js';

/** A decoded `latest` record. */
export interface LatestPointer {
  readonly transitionHash: TransitionHash;
  readonly signature: Uint8Array;
}

// Domain separation: this key must never be tricked into signing something that verifies as a pointer.
const DOMAIN = 'ccmesh-history-latest/v1\n';

/** Signs `transitionHash` with `key` (Ed25519/Ed448 sign the message itself; EC and RSA keys sign its SHA-256). */
export function signLatest(transitionHash: TransitionHash, key: KeyObject): Uint8Array {
  return new Uint8Array(sign(algorithmFor(key), message(transitionHash), key));
}

/** True when `pointer.signature` verifies under `key` (a public key, or a private key whose public half is used). */
export function verifyLatest(pointer: LatestPointer, key: KeyObject): boolean {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  try {
    return verify(algorithmFor(pub), message(pointer.transitionHash), pub, pointer.signature);
  } catch {
    // A key of an unsuitable type, or a malformed DER signature: it does not verify.
    return false;
  }
}

/** The stored form: compact JSON `{"transitionHash":…,"signature":<base64>}`. */
export function encodeLatest(p: LatestPointer): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ transitionHash: p.transitionHash, signature: Buffer.from(p.signature).toString('base64') }));
}

/** Parses the stored pointer under `key`; throws STORE_CORRUPT for anything but a well-formed record. */
export function parseLatest(key: string, bytes: Uint8Array): LatestPointer {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history pointer ${key} is not UTF-8 JSON`, { cause: err });
  }
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const { transitionHash, signature } = r;
  if (
    Object.keys(r).length !== 2 ||
    typeof transitionHash !== 'string' ||
    !isSha256Hex(transitionHash) ||
    typeof signature !== 'string' ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)
  ) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `history pointer ${key} is malformed: expected {transitionHash, signature}`);
  }
  return { transitionHash: transitionHash as TransitionHash, signature: new Uint8Array(Buffer.from(signature, 'base64')) };
}

function message(transitionHash: string): Buffer {
  return Buffer.from(DOMAIN + transitionHash, 'utf8');
}

function algorithmFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  return type === 'ed25519' || type === 'ed448' ? null : 'sha256';
}
