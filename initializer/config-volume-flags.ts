/**
 * `ccmesh initializer --config-volume NAME=MOUNT [--config-copy-dir DIR]`: the pinned config volumes the app reads
 * only through a verified in-memory copy. `inject` writes one `--config-volume` per volume of
 * `ccmesh.dev/config-volumes` (the Kata policy pins them), MOUNT being where the initializer mounts the host-synced
 * volume (the key of the manifest's configDigests) and `<DIR>/NAME` the in-memory volume the app mounts instead.
 */
import { join } from 'node:path';
import { MANIFEST_LIMITS } from '../contract/manifest/limits.js';
import { mountPathProblem } from '../contract/manifest/file-paths.js';
import type { ConfigCopySpec } from './config-copy.js';
import type { TokenisedFlags } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { PATHS } from '../lib/pod-layout.js';

/** Kubernetes volume names: RFC 1123 DNS labels. */
const VOLUME_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Flag specs to merge into the command's flags. */
export const CONFIG_VOLUME_FLAGS = {
  'config-volume': { type: 'string', multiple: true },
  'config-copy-dir': { type: 'string' },
} as const;

/** Usage lines of the two flags. */
export const CONFIG_VOLUME_USAGE = `  --config-volume NAME=MOUNT  (repeatable) the pinned config volume NAME, mounted at MOUNT here, is read by the
                   app only through its verified copy: every pinned file's bytes are read once, hashed, compared
                   and written to <copy dir>/NAME (an in-memory volume). MOUNT must be pinned in the manifest
  --config-copy-dir DIR  where the copies go (default ${PATHS.configCopyRoot})
`;

/** Every `--config-volume` as a copy spec; a malformed or repeated value is an issue naming the flag. */
export function readConfigVolumeFlags(r: FieldReader, tok: TokenisedFlags): ConfigCopySpec[] {
  const dir = r.raw('config-copy-dir') ?? PATHS.configCopyRoot;
  if (dir === '') r.issue('config-copy-dir', dir, 'a directory');
  const out: ConfigCopySpec[] = [];
  for (const v of tok.lists['config-volume'] ?? []) {
    const eq = v.indexOf('=');
    const volume = eq < 0 ? '' : v.slice(0, eq);
    const mountPath = eq < 0 ? '' : v.slice(eq + 1);
    const pathProblem = mountPathProblem(mountPath, MANIFEST_LIMITS.pathChars);
    if (!VOLUME_NAME_RE.test(volume)) r.issue('config-volume', v, 'NAME=MOUNT with NAME a volume name (a lowercase DNS label)');
    else if (pathProblem !== undefined) r.issue('config-volume', v, `NAME=MOUNT with MOUNT ${pathProblem}`);
    else if (out.some((c) => c.volume === volume || c.mountPath === mountPath)) r.issue('config-volume', v, 'each volume and each mount path once');
    else out.push({ volume, mountPath, dest: join(dir, volume) });
  }
  return out;
}
