/**
 * Seed and salt sealed from one Coordinator replica to another (ShareSeed, peer recovery). The requester makes an
 * ephemeral ECDH P-256 key and binds it into its evidence; the serving replica makes its own ephemeral key, and both
 * derive an AES-256-GCM key from the ECDH secret with HKDF-SHA256, whose info names the purpose and both public keys.
 *
 * Sealed format v1 (124 bytes): GCM nonce (12) ‖ ciphertext of seed (64) ‖ salt (32) ‖ tag (16). The same info is
 * the GCM additional data, so an answer sealed for another request (another key pair) never opens.
 */
import { createCipheriv, createDecipheriv, createHash, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { parsePublicKey } from '../lib/pki/key-details.js';
import { SALT_BYTES, SEED_BYTES, type SeedAndSalt } from './seed-shares.js';

/** Domain label of the key derivation (the ShareSeed request's evidence label too, `lib/protocol/binding.ts`). */
export const PEER_SEED_LABEL = 'ccmesh/share-seed/v1';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Length of a sealed answer. */
export const SEALED_SEED_BYTES = IV_BYTES + SEED_BYTES + SALT_BYTES + TAG_BYTES;

/** An ephemeral ECDH P-256 key pair and its public key as SPKI DER. */
export interface EphemeralKey {
  readonly privateKey: KeyObject;
  readonly spki: Uint8Array;
}

/** A fresh ephemeral ECDH P-256 key. */
export function ephemeralKey(): EphemeralKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
}

/** Reads a P-256 public key from SPKI DER; undefined when it is anything else. */
export function readP256Spki(spki: Uint8Array): KeyObject | undefined {
  try {
    // SECURITY: read by ccmesh first (lib/pki/key-details.ts): a point-at-infinity key would abort the process in
    // OpenSSL, and this key comes from an unauthenticated ShareSeed request or answer.
    const { key, details } = parsePublicKey(spki);
    return details.type === 'ec' && details.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}

function info(requesterSpki: Uint8Array, servingSpki: Uint8Array): Buffer {
  const h = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
  return Buffer.concat([Buffer.from(PEER_SEED_LABEL, 'latin1'), Buffer.of(0), h(requesterSpki), h(servingSpki)]);
}

function aeadKey(own: KeyObject, peer: KeyObject, requesterSpki: Uint8Array, servingSpki: Uint8Array): Buffer {
  const secret = diffieHellman({ privateKey: own, publicKey: peer });
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info(requesterSpki, servingSpki), 32));
}

/**
 * Seals seed and salt to the requester's ECDH key (checked P-256 by the caller) with a fresh ephemeral key of the
 * serving replica. Returns that key's SPKI and the sealed bytes.
 */
export function sealPeerSeed(seed: Uint8Array, salt: Uint8Array, requester: KeyObject, requesterSpki: Uint8Array): { servingSpki: Uint8Array; sealed: Uint8Array } {
  const own = ephemeralKey();
  const key = aeadKey(own.privateKey, requester, requesterSpki, own.spki);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(info(requesterSpki, own.spki));
  const body = Buffer.concat([cipher.update(seed), cipher.update(salt), cipher.final()]);
  return { servingSpki: own.spki, sealed: new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()])) };
}

/**
 * Opens a sealed answer with the requester's ephemeral key. Returns a reason (never throws) when the serving key is
 * not P-256, the length is wrong or the ciphertext does not authenticate (tampered, or sealed for another key).
 */
export function openPeerSeed(sealed: Uint8Array, servingSpki: Uint8Array, requester: EphemeralKey): { ok: true; value: SeedAndSalt } | { ok: false; reason: string } {
  const serving = readP256Spki(servingSpki);
  if (!serving) return { ok: false, reason: 'the serving peer\'s key is not an ECDH P-256 SubjectPublicKeyInfo' };
  if (sealed.length !== SEALED_SEED_BYTES) return { ok: false, reason: `the sealed seed is ${sealed.length} bytes, expected ${SEALED_SEED_BYTES}` };
  const key = aeadKey(requester.privateKey, serving, requester.spki, servingSpki);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(info(requester.spki, servingSpki));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return { ok: false, reason: 'the sealed seed does not authenticate (tampered, or sealed to another key)' };
  }
  return { ok: true, value: { seed: new Uint8Array(plain.subarray(0, SEED_BYTES)), salt: new Uint8Array(plain.subarray(SEED_BYTES)) } };
}
