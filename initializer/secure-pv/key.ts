/**
 * The passphrase of an encrypted persistent volume's LUKS2 keyslot, derived from the pod's workload secret.
 *
 * The workload secret is the same for every pod of a workload and survives pod moves and Coordinator recovery (it is
 * derived from the Coordinator's seed and the manifest's workloadSecretId), so the volume opens wherever the pod runs
 * and after the Coordinator was restored — and only for pods the Coordinator gave that secret, i.e. attested pods of
 * that workload. The volume's name is bound into the HKDF label: two volumes of one workload get unrelated keys.
 * The result is 256 uniformly random bits, so the keyslot's KDF adds nothing and runs with its cheapest setting
 * (see cryptsetup.ts).
 */
import { hkdfSync } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** Bytes of the derived passphrase. */
export const VOLUME_KEY_BYTES = 32;

/** Shortest workload secret accepted (the initializer writes 64 bytes). */
export const MIN_WORKLOAD_SECRET_BYTES = 32;

/** HKDF salt: fixed, names the purpose and its version (a new scheme gets a new salt). */
const SALT = Buffer.from('ccmesh secure-pv keyslot v1', 'utf8');

/** Volume names as Kubernetes writes them (DNS labels). */
const VOLUME_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** HKDF-SHA256(workload secret, salt, "ccmesh/secure-pv/v1/volume=<name>") → 32 bytes. */
export function deriveVolumeKey(workloadSecret: Uint8Array, volume: string): Buffer {
  if (workloadSecret.length < MIN_WORKLOAD_SECRET_BYTES) {
    throw new CcmeshError(ErrorCode.SECURE_PV_FAILED, `workload secret: got ${workloadSecret.length} bytes, expected at least ${MIN_WORKLOAD_SECRET_BYTES}`);
  }
  if (!VOLUME_NAME_RE.test(volume)) {
    throw new CcmeshError(ErrorCode.SECURE_PV_FAILED, `volume name: got ${JSON.stringify(volume)}, expected a Kubernetes volume name (lowercase DNS label)`);
  }
  const info = Buffer.from(`ccmesh/secure-pv/v1/volume=${volume}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', workloadSecret, SALT, info, VOLUME_KEY_BYTES));
}
