/**
 * Seed shares: the seed and salt RSA-OAEP-SHA256-encrypted to each seed-share owner key of the manifest, returned
 * only on the first SetManifest. An owner later decrypts its share and hands seed and salt to a Coordinator in
 * recovery mode.
 *
 * Plaintext format v1 (101 bytes): ASCII `ccss` ‖ version 0x01 ‖ seed (64) ‖ salt (32). The magic and version make a
 * share self-describing and keep an OAEP ciphertext made for another purpose with the same key from being read as one.
 */
import { constants, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { fromHex, toHex } from '../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { parsePublicKey, type PublicKeyDetails } from '../lib/pki/key-details.js';
import type { SeedShareMessage } from '../lib/protocol/messages.js';

/** Size of the seed in bytes. */
export const SEED_BYTES = 64;
/** Size of the HKDF salt in bytes. */
export const SALT_BYTES = 32;

/** One owner's encrypted copy of seed and salt. */
export interface SeedShare {
  /** Lowercase hex of the owner's RSA public key (SPKI DER), as listed in the manifest. */
  readonly ownerKey: string;
  /** Base64 of the RSA-OAEP-SHA256 ciphertext of the v1 plaintext. */
  readonly encryptedSeed: string;
}

/** A share as the SetManifest answer carries it (ciphertext as bytes). */
export function seedShareMessage(share: SeedShare): SeedShareMessage {
  return { ownerKey: share.ownerKey, encryptedSeed: new Uint8Array(Buffer.from(share.encryptedSeed, 'base64')) };
}

/** A share from the SetManifest answer, in the form the workspace's seed-share file keeps (ciphertext as base64). */
export function seedShareFromMessage(msg: SeedShareMessage): SeedShare {
  return { ownerKey: msg.ownerKey, encryptedSeed: Buffer.from(msg.encryptedSeed).toString('base64') };
}

/** Seed and salt recovered from a share. */
export interface SeedAndSalt {
  readonly seed: Uint8Array;
  readonly salt: Uint8Array;
}

/** Why a share could not be opened. */
export type SeedShareFailure = 'wrong-key' | 'decrypt-failed' | 'bad-format';

/** A share that could not be opened; `reason` says which way it failed. */
export class SeedShareError extends CcmeshError {
  override readonly name = 'SeedShareError';
  readonly reason: SeedShareFailure;

  constructor(reason: SeedShareFailure, message: string, options?: { cause?: unknown }) {
    super(ErrorCode.PKI_SEED_SHARE_INVALID, message, options);
    this.reason = reason;
  }
}

/** Smallest accepted owner modulus; smaller keys would protect every seed-derived secret with < 112-bit strength. */
export const MIN_SEED_SHARE_RSA_BITS = 2048;

const MAGIC = Buffer.from('ccss', 'latin1');
const VERSION_1 = 0x01;
const PLAINTEXT_V1_BYTES = MAGIC.length + 1 + SEED_BYTES + SALT_BYTES;

/** Encrypts seed ‖ salt to every owner key (hex SPKI DER of RSA keys); throws PKI_INPUT_INVALID on a bad key. */
export function encryptSeedShares(seed: Uint8Array, salt: Uint8Array, ownerKeysSpkiHex: readonly string[]): SeedShare[] {
  if (seed.length !== SEED_BYTES) throw invalidInput(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
  if (salt.length !== SALT_BYTES) throw invalidInput(`salt must be ${SALT_BYTES} bytes, got ${salt.length}`);
  const plaintext = Buffer.concat([MAGIC, Buffer.of(VERSION_1), seed, salt]);
  try {
    return ownerKeysSpkiHex.map((hex, i) => {
      const key = parseOwnerKey(hex, `seed-share owner key ${i}`);
      const ciphertext = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, plaintext);
      return { ownerKey: hex.toLowerCase(), encryptedSeed: ciphertext.toString('base64') };
    });
  } finally {
    plaintext.fill(0);
  }
}

/** Opens `share` with the owner's RSA private key; throws {@link SeedShareError} naming why it could not. */
export function decryptSeedShare(share: SeedShare, privateKey: KeyObject): SeedAndSalt {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') {
    throw new SeedShareError('wrong-key', 'opening a seed share: the key is not an RSA private key');
  }
  const ownSpki = toHex(new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })));
  if (typeof share.ownerKey !== 'string' || share.ownerKey.toLowerCase() !== ownSpki) {
    throw new SeedShareError('wrong-key', 'opening a seed share: the share is for another owner key than the one given');
  }
  if (typeof share.encryptedSeed !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(share.encryptedSeed)) {
    throw new SeedShareError('bad-format', 'opening a seed share: encryptedSeed is not base64');
  }
  let plaintext: Buffer;
  try {
    plaintext = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(share.encryptedSeed, 'base64'),
    );
  } catch (err) {
    // OAEP does not tell a tampered ciphertext from one made with another key; we ruled the latter out above.
    throw new SeedShareError('decrypt-failed', 'opening a seed share: RSA-OAEP decryption failed (corrupted or tampered ciphertext)', { cause: err });
  }
  try {
    if (plaintext.length < MAGIC.length + 1 || !plaintext.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new SeedShareError('bad-format', 'opening a seed share: the plaintext is not a ccmesh seed share');
    }
    const version = plaintext[MAGIC.length];
    if (version !== VERSION_1) {
      throw new SeedShareError('bad-format', `opening a seed share: unsupported format version ${String(version)}`);
    }
    if (plaintext.length !== PLAINTEXT_V1_BYTES) {
      throw new SeedShareError('bad-format', `opening a seed share: v1 plaintext must be ${PLAINTEXT_V1_BYTES} bytes, got ${plaintext.length}`);
    }
    const body = MAGIC.length + 1;
    return {
      seed: new Uint8Array(plaintext.subarray(body, body + SEED_BYTES)),
      salt: new Uint8Array(plaintext.subarray(body + SEED_BYTES, body + SEED_BYTES + SALT_BYTES)),
    };
  } finally {
    plaintext.fill(0);
  }
}

/** Parses a hex SPKI DER RSA public key suitable for OAEP. */
function parseOwnerKey(hex: string, what: string): KeyObject {
  const der = typeof hex === 'string' ? fromHex(hex) : undefined;
  if (der === undefined || der.length === 0) throw invalidInput(`${what} is not hex`);
  let key: KeyObject;
  let details: PublicKeyDetails;
  try {
    ({ key, details } = parsePublicKey(der)); // read before OpenSSL: a malformed EC point would abort the process
  } catch (err) {
    throw invalidInput(`${what} is not an SPKI DER public key`, err);
  }
  // 'rsa-pss' keys are restricted to signatures and cannot be used for OAEP.
  if (details.type !== 'rsa') throw invalidInput(`${what} is a ${details.type} key, expected RSA`);
  const bits = details.modulusLength;
  if (bits < MIN_SEED_SHARE_RSA_BITS) throw invalidInput(`${what} has a ${bits}-bit modulus, expected at least ${MIN_SEED_SHARE_RSA_BITS}`);
  return key;
}

function invalidInput(message: string, cause?: unknown): CcmeshError {
  return new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `encrypting seed shares: ${message}`, cause === undefined ? undefined : { cause });
}
