/**
 * configDigests of a generated entry: for each volume named in `ccmesh.dev/config-volumes`, the SHA-256 of every
 * file Kubernetes will project into it, at the path where the injected initializer mounts it (the same path as the
 * app's mount; `inject` guarantees one path and no subPath). Only ConfigMaps and Secrets present in the input can
 * be pinned; any other named volume is reported as a warning, with the digests left for the operator to add. The
 * injected app reads such a volume only through the initializer's verified copy, and the initializer refuses to
 * copy (and to start the pod) without pins, so until they are added the pod does not start — closed, not open.
 */
import { createHash } from 'node:crypto';
import type { ManifestDocument } from '../../contract/manifest/types.js';
import { INJECTED } from '../constants.js';
import { decodeStrictBase64 } from '../policy/base64.js';
import { isObj, listAt, objAt, strAt, type Obj } from './resource.js';

/** Mount path → relative file path → SHA-256 hex: the manifest document's configDigests value for one policy. */
export type MountDigests = NonNullable<ManifestDocument['configDigests']>[string];

/** A ConfigMap or Secret of the input, by `<kind>/<namespace>/<name>`. */
export type ConfigSources = ReadonlyMap<string, Obj>;

/** Key of {@link ConfigSources}. */
export function configSourceKey(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Appended to every "must be added by hand" warning: what happens to the pod meanwhile. */
const UNPINNED = ' (until then its pods do not start: the app reads only the verified copy, and the initializer copies nothing unpinned)';

/** Every key of a ConfigMap / Secret with its file content, or a problem. */
function sourceFiles(kind: 'ConfigMap' | 'Secret', src: Obj): { files: Map<string, Uint8Array> } | { problem: string } {
  const files = new Map<string, Uint8Array>();
  const data = objAt(src, 'data');
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string') return { problem: `data.${k} is not a string` };
    if (kind === 'ConfigMap') files.set(k, Buffer.from(v, 'utf8'));
    else {
      const bytes = decodeStrictBase64(v);
      if (!bytes) return { problem: `data.${k} is not base64` };
      files.set(k, bytes);
    }
  }
  const extra = kind === 'ConfigMap' ? 'binaryData' : 'stringData';
  for (const [k, v] of Object.entries(objAt(src, extra))) {
    if (typeof v !== 'string') return { problem: `${extra}.${k} is not a string` };
    if (kind === 'ConfigMap') {
      const bytes = decodeStrictBase64(v);
      if (!bytes) return { problem: `binaryData.${k} is not base64` };
      if (files.has(k)) return { problem: `key ${k} is in both data and binaryData` };
      files.set(k, bytes);
    } else {
      files.set(k, Buffer.from(v, 'utf8')); // stringData wins over data, as the API server merges it
    }
  }
  return { files };
}

/** Where the injected initializer mounts `volume`, without trailing slashes. */
function initializerMountPath(template: Obj, volume: string): string | undefined {
  const spec = objAt(template, 'spec');
  const init = listAt(spec, 'initContainers').find((c) => isObj(c) && c.name === INJECTED.initializer);
  const mount = listAt(init, 'volumeMounts').find((m) => isObj(m) && m.name === volume);
  const path = strAt(mount, 'mountPath');
  return path === undefined ? undefined : path.replace(/\/+$/, '');
}

/**
 * Digests of the named config volumes of an injected pod template in `namespace`. Returns the digests and one
 * warning per volume that could not be pinned.
 */
export function buildConfigDigests(template: Obj, volumes: readonly string[], namespace: string, sources: ConfigSources): { digests: MountDigests; warnings: string[] } {
  const digests: MountDigests = {};
  const warnings: string[] = [];
  const specVolumes = listAt(objAt(template, 'spec'), 'volumes').filter(isObj);
  for (const name of volumes) {
    const vol = specVolumes.find((v) => v.name === name);
    const mountPath = initializerMountPath(template, name);
    if (!vol || mountPath === undefined) {
      warnings.push(`config volume "${name}" is not mounted by the injected initializer; its digests must be added by hand${UNPINNED}`);
      continue;
    }
    const kind = isObj(vol.configMap) ? 'ConfigMap' : isObj(vol.secret) ? 'Secret' : undefined;
    const ref = kind === 'ConfigMap' ? objAt(vol, 'configMap') : objAt(vol, 'secret');
    const srcName = kind === 'ConfigMap' ? strAt(ref, 'name') : strAt(ref, 'secretName');
    if (!kind || !srcName) {
      warnings.push(`config volume "${name}" is neither a ConfigMap nor a Secret volume; its digests must be added by hand${UNPINNED}`);
      continue;
    }
    const src = sources.get(configSourceKey(kind, namespace, srcName));
    if (!src) {
      warnings.push(`config volume "${name}": ${kind} ${namespace}/${srcName} is not in the input; its digests must be added by hand${UNPINNED}`);
      continue;
    }
    const read = sourceFiles(kind, src);
    if ('problem' in read) {
      warnings.push(`config volume "${name}": ${kind} ${namespace}/${srcName} ${read.problem}; its digests must be added by hand${UNPINNED}`);
      continue;
    }
    const items = listAt(ref, 'items');
    const files: Record<string, string> = {};
    let problem: string | undefined;
    if (items.length === 0) {
      for (const [k, bytes] of read.files) files[k] = sha256(bytes);
    } else {
      for (const item of items) {
        const key = strAt(item, 'key');
        const path = strAt(item, 'path');
        const bytes = key === undefined ? undefined : read.files.get(key);
        if (bytes === undefined || path === undefined) problem ??= `item ${JSON.stringify(item)} names no key of ${kind} ${namespace}/${srcName}`;
        else files[path] = sha256(bytes);
      }
    }
    if (problem) {
      warnings.push(`config volume "${name}": ${problem}; its digests must be added by hand${UNPINNED}`);
      continue;
    }
    // Sorted keys: the manifest text (and so its hash) must not depend on the input's key order.
    digests[mountPath] = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return { digests, warnings };
}
