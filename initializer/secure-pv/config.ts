/**
 * Flags of `ccmesh secure-pv` (the helper `inject` adds for `ccmesh.dev/secure-pv`), validated in full before anything
 * touches the device: every bad flag is reported at once (exit 64), and a run with a bad flag never reads, formats or
 * opens anything.
 */
import type { FieldReader } from '../../lib/config/fields.js';
import { PATHS } from '../../lib/pod-layout.js';

/** The flag spec. */
export const SECURE_PV_FLAGS = {
  device: { type: 'string' },
  volume: { type: 'string' },
  'mount-dir': { type: 'string' },
  'workload-secret': { type: 'string' },
  'check-mounted': { type: 'boolean' },
  owner: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage text. */
export const SECURE_PV_USAGE = `Usage:
  ccmesh secure-pv --device DEV --volume NAME --mount-dir DIR [--workload-secret FILE] [--owner UID:GID]
  ccmesh secure-pv --check-mounted --volume NAME --mount-dir DIR

Opens the encrypted persistent volume of a pod (ccmesh.dev/secure-pv) and keeps it open until SIGTERM:
  - DEV (the raw block volume) is formatted with LUKS2 + HMAC-SHA256 integrity only when it is blank: no LUKS header
    and its first 16 MiB all zero. A LUKS header the key does not open, a damaged or truncated header or any other
    data stops the helper with an error naming the device and what was found; nothing is written.
  - The keyslot key is HKDF-SHA256 of the workload secret (default ${PATHS.workloadSecret}) and NAME (the block
    volume's pod volume name), passed to cryptsetup on stdin only.
  - The ext4 filesystem inside is created on first use and mounted at DIR (nosuid, nodev); on SIGTERM it is
    unmounted and the mapping closed. With --owner the new filesystem's root directory goes to UID:GID when it is
    made (the app's user; inject passes the pod's runAsUser and its fsGroup, runAsGroup or runAsUser).
--check-mounted exits 0 when the volume NAME is open and its filesystem mounted at DIR, 1 otherwise (the helper's
startup probe).
`;

/** The validated settings. */
export type SecurePvSettings =
  | { readonly mode: 'check'; readonly volume: string; readonly mountDir: string }
  | { readonly mode: 'run'; readonly device: string; readonly volume: string; readonly mountDir: string; readonly workloadSecretPath: string; readonly owner?: { readonly uid: number; readonly gid: number } };

/** Largest uid/gid (2^32 − 2; 2^32 − 1 means "no change" to chown). */
const MAX_ID = 4294967294;

const VOLUME_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function absolutePath(r: FieldReader, field: string, required: boolean, fallback?: string): string | undefined {
  const v = r.raw(field) ?? fallback;
  if (v === undefined) {
    if (required) r.issue(field, undefined, 'an absolute path');
    return undefined;
  }
  if (!v.startsWith('/') || v.includes('\0') || v.split('/').includes('..')) {
    r.issue(field, v, 'an absolute path without ".."');
    return undefined;
  }
  return v;
}

/** Reads the flags; the caller calls `r.finish()`, which throws when any was bad. */
export function readSecurePvSettings(r: FieldReader): SecurePvSettings | undefined {
  const check = r.raw('check-mounted') === 'true';
  const mountDir = absolutePath(r, 'mount-dir', true);
  const volume = r.raw('volume');
  if (volume === undefined || !VOLUME_NAME_RE.test(volume)) r.issue('volume', volume, 'the pod volume name of the block volume (a lowercase DNS label); it is bound into the key');
  if (check) {
    for (const f of ['device', 'workload-secret', 'owner']) if (r.raw(f) !== undefined) r.issue(f, r.raw(f), 'nothing with --check-mounted (it only checks --volume and --mount-dir)');
    return mountDir === undefined || volume === undefined || !VOLUME_NAME_RE.test(volume) ? undefined : { mode: 'check', volume, mountDir };
  }
  const device = absolutePath(r, 'device', true);
  const workloadSecretPath = absolutePath(r, 'workload-secret', false, PATHS.workloadSecret);
  const ownerText = r.raw('owner');
  const m = ownerText === undefined ? undefined : /^(\d{1,10}):(\d{1,10})$/.exec(ownerText);
  const owner = m ? { uid: Number(m[1]), gid: Number(m[2]) } : undefined;
  if (ownerText !== undefined && (owner === undefined || owner.uid > MAX_ID || owner.gid > MAX_ID)) r.issue('owner', ownerText, `UID:GID, two numbers from 0 to ${MAX_ID}`);
  if (device === undefined || mountDir === undefined || workloadSecretPath === undefined || volume === undefined || !VOLUME_NAME_RE.test(volume)) return undefined;
  return { mode: 'run', device, volume, mountDir, workloadSecretPath, ...(owner !== undefined ? { owner } : {}) };
}
