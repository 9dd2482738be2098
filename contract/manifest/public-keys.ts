/**
 * Owner keys named by the manifest, given as hex SPKI DER: workload owners sign manifest updates with ECDSA; seed-share
 * owners receive RSA-OAEP-encrypted seed shares, so their keys must be RSA of at least 3072 bits.
 */
import { parsePublicKey } from '../../lib/pki/key-details.js';
import { fromHex, toHex } from '../../lib/bytes.js';
import type { ManifestPublicKey } from './types.js';

/** What kind of owner key is being read. */
export type OwnerKeyKind = 'ecdsa' | 'rsa';

/** Limits on one key. */
export interface OwnerKeyLimits {
  readonly spkiBytes: number;
  readonly rsaMinBits: number;
  readonly rsaMaxBits: number;
}

/** Parses one hex SPKI DER key of `kind`; returns the key or what was expected instead. */
export function parseOwnerKey(hex: unknown, kind: OwnerKeyKind, limits: OwnerKeyLimits): { key?: ManifestPublicKey; expected?: string } {
  const what = kind === 'ecdsa' ? 'hex SPKI DER of an ECDSA public key' : `hex SPKI DER of an RSA public key of ${limits.rsaMinBits}-${limits.rsaMaxBits} bits`;
  const der = typeof hex === 'string' && hex.length <= 2 * limits.spkiBytes ? fromHex(hex) : undefined;
  if (!der || der.length === 0) return { expected: what };
  let key, details;
  try {
    // SECURITY: parsePublicKey reads the SPKI before OpenSSL does (a malformed EC point would abort the process).
    ({ key, details } = parsePublicKey(der));
  } catch (err) {
    return { expected: `${what} (${err instanceof Error ? err.message : String(err)})` };
  }
  if (kind === 'ecdsa' && details.type !== 'ec') {
    return { expected: `${what} (got a ${details.type} key)` };
  }
  if (kind === 'rsa') {
    // SECURITY: plain 'rsa' only — an RSA-PSS-restricted key can't do OAEP, and small moduli make seed shares weak.
    if (details.type !== 'rsa') return { expected: `${what} (got a ${details.type} key)` };
    const bits = details.modulusLength;
    if (bits < limits.rsaMinBits || bits > limits.rsaMaxBits) return { expected: `${what} (got ${bits} bits)` };
  }
  const spkiHex = toHex(new Uint8Array(key.export({ type: 'spki', format: 'der' })));
  return { key: { spkiHex, key } };
}
