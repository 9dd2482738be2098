/**
 * Content addresses of the history: lowercase hex SHA-256 of the stored bytes. Branded per meaning so a manifest
 * hash cannot be passed where a transition hash is expected; policy hashes reuse {@link PolicyHash}, since a
 * policy's address is exactly the HOST_DATA / MRCONFIGID value the TEE reports.
 */
import { createHash } from 'node:crypto';
import type { Brand } from '../../lib/brand.js';

/** SHA-256 (hex) of a manifest document as stored. */
export type ManifestHash = Brand<string, 'ManifestHash'>;
/** SHA-256 (hex) of a canonical transition record. */
export type TransitionHash = Brand<string, 'TransitionHash'>;

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** True when `s` is 64 lowercase hex digits. */
export function isSha256Hex(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}
