/**
 * The Coordinator seed and everything derived from it.
 *
 * Every long-lived secret (root CA key, history signing key, workload secrets, mesh CA keys) is a pure function of
 * seed and salt, so a Coordinator that recovers the seed reproduces all of them bit for bit. Each purpose has its own
 * HKDF-SHA256 `info` label; labels that take an argument end in a NUL before it, so no label is a prefix of another
 * and no argument can make one purpose's input equal another's.
 */
import { createECDH, createPrivateKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

import { SALT_BYTES, SEED_BYTES } from '../../contract/seed-shares.js';

export { SALT_BYTES, SEED_BYTES };
/** Size of a workload secret in bytes. */
export const WORKLOAD_SECRET_BYTES = 64;
/** Longest workload id or mesh CA generation accepted, in UTF-8 bytes (HKDF `info` is limited to 1024 bytes). */
export const MAX_LABEL_ARGUMENT_BYTES = 512;

/** HKDF `info` labels, one per purpose. Changing one changes every key derived with it: bump the version instead. */
export const HKDF_LABELS = Object.freeze({
  rootCaKey: 'ccmesh root ca key v1',
  historySigningKey: 'ccmesh history signing key v1',
  workloadSecretPrefix: 'ccmesh workload secret v1\0',
  meshCaKeyPrefix: 'ccmesh mesh ca key v1\0',
});

/** The secrets a seed and salt determine. */
export interface DerivedSecrets {
  /** ECDSA P-256 private key of the root CA, stable for the seed's life. */
  readonly rootCaKey: KeyObject;
  /** Ed25519 private key that signs the history's `latest` pointer. */
  readonly historySigningKey: KeyObject;
  /** The 64-byte secret of the workload with manifest id `id` (a fresh copy each call). */
  workloadSecret(id: string): Uint8Array;
  /** ECDSA P-256 private key of the mesh CA of manifest generation `generation` (e.g. the transition hash). */
  meshCaKey(generation: string): KeyObject;
}

/** 64 fresh random bytes: a new Coordinator seed. */
export function generateSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES));
}

/** 32 fresh random bytes: a new HKDF salt. */
export function generateSalt(): Uint8Array {
  return new Uint8Array(randomBytes(SALT_BYTES));
}

/** Derives every seed-bound secret; throws PKI_INPUT_INVALID when seed or salt has the wrong size. */
export function deriveSecrets(seed: Uint8Array, salt: Uint8Array): DerivedSecrets {
  if (seed.length !== SEED_BYTES) throw invalid(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
  if (salt.length !== SALT_BYTES) throw invalid(`salt must be ${SALT_BYTES} bytes, got ${salt.length}`);
  // Copies, so a caller that later zeroes or reuses its buffers can't change what we derive.
  // SECURITY: the seed stays in this closure for the process lifetime; JS offers no reliable way to wipe it.
  const ikm = Buffer.from(seed);
  const hkdfSalt = Buffer.from(salt);
  const expand = (info: Buffer, length: number): Buffer => Buffer.from(hkdfSync('sha256', ikm, hkdfSalt, info, length));

  return Object.freeze({
    rootCaKey: p256KeyFromOkm(expand(Buffer.from(HKDF_LABELS.rootCaKey, 'utf8'), P256_OKM_BYTES)),
    historySigningKey: ed25519KeyFromSeed(expand(Buffer.from(HKDF_LABELS.historySigningKey, 'utf8'), 32)),
    workloadSecret(id: string): Uint8Array {
      const info = labelWithArgument(HKDF_LABELS.workloadSecretPrefix, id, 'workload id');
      return new Uint8Array(expand(info, WORKLOAD_SECRET_BYTES));
    },
    meshCaKey(generation: string): KeyObject {
      const info = labelWithArgument(HKDF_LABELS.meshCaKeyPrefix, generation, 'mesh CA generation');
      return p256KeyFromOkm(expand(info, P256_OKM_BYTES));
    },
  });
}

/** Order n of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** 32 bytes for the scalar plus 8 extra, so reducing mod n-1 is biased by at most 2^-64 (FIPS 186-5 A.2.1). */
const P256_OKM_BYTES = 40;

/** Maps 40 uniform bytes to a scalar d in [1, n-1] and builds the P-256 private key with it. */
function p256KeyFromOkm(okm: Buffer): KeyObject {
  const c = BigInt(`0x${okm.toString('hex')}`);
  const d = (c % (P256_N - 1n)) + 1n;
  const dBytes = Buffer.from(d.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(dBytes);
  const point = ecdh.getPublicKey(); // uncompressed: 0x04 ‖ x ‖ y
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: dBytes.toString('base64url'),
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    },
  });
}

/** PKCS#8 DER header of an Ed25519 private key (RFC 8410); the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private key whose RFC 8032 seed is `seed32`. */
function ed25519KeyFromSeed(seed32: Buffer): KeyObject {
  return createPrivateKey({ format: 'der', type: 'pkcs8', key: Buffer.concat([ED25519_PKCS8_PREFIX, seed32]) });
}

/** `prefix ‖ argument` as HKDF info; refuses an empty or over-long argument. */
function labelWithArgument(prefix: string, argument: string, what: string): Buffer {
  if (typeof argument !== 'string' || argument.length === 0) throw invalid(`${what} must be a non-empty string`);
  const arg = Buffer.from(argument, 'utf8');
  if (arg.length > MAX_LABEL_ARGUMENT_BYTES) {
    throw invalid(`${what} is ${arg.length} bytes, longer than ${MAX_LABEL_ARGUMENT_BYTES}`);
  }
  return Buffer.concat([Buffer.from(prefix, 'utf8'), arg]);
}

function invalid(message: string): CcmeshError {
  return new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `deriving Coordinator secrets: ${message}`);
}
