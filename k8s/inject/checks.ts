/**
 * What `inject` reads from the user's containers before changing anything, and the refusals that protect the
 * mesh: a user container that would bypass capture or clash with a mesh port, a config volume the initializer can't
 * verify and copy for the app (kubelet probes: probes.ts). Every refusal names the field and the reason.
 */
import { mountPathProblem } from '../../contract/manifest/file-paths.js';
import { MANIFEST_LIMITS } from '../../contract/manifest/limits.js';
import { isJsonObject as isObj } from '../../lib/config/json-reader.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { PATHS, PROXY_UID } from '../../lib/pod-layout.js';
import { RESERVED_MESH_PORTS } from '../annotations.js';
import { ANNOTATIONS, INJECTED } from '../constants.js';
import { configCopyVolume, digestMountPath } from './parts.js';

/** JSON-shaped Kubernetes object. */
export type Obj = Record<string, unknown>;

/** A user container with the field path it was found at (for messages). */
export interface UserContainer {
  readonly c: Obj;
  readonly field: string;
}

/** Refusal with the resource, the field and the reason in the message. */
export function refuse(where: string, field: string, reason: string): CcmeshError {
  return new CcmeshError(ErrorCode.K8S_INJECT_REFUSED, `refusing to inject ${where}: ${field}: ${reason}`);
}

/** True for a non-null, non-array object (the shared JSON-object check under a shorter name). */
export { isObj };

/** A container's name ('' when it has none). */
export function nameOf(c: Obj): string {
  return typeof c.name === 'string' ? c.name : '';
}

/** `v` when it is an integer. */
export function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** `volumeMounts` of a container as objects (a malformed list is refused). */
export function mountsOf(u: UserContainer, where: string): Obj[] {
  const m = u.c.volumeMounts;
  if (m === undefined || m === null) return [];
  if (!Array.isArray(m) || !m.every(isObj)) throw refuse(where, `${u.field}.volumeMounts`, 'is not a list of objects');
  return m;
}

/**
 * Refuses user containers that would undermine the mesh: running as the proxy's uid (its traffic is exempt from
 * capture) or declaring a port the sidecar listens on. `pod` is the pod-level securityContext and its field path.
 */
export function checkUserContainer(u: UserContainer, pod: { readonly security: Obj | undefined; readonly field: string }, adminPort: number, where: string): void {
  const podSecurity = pod.security;
  const sc = isObj(u.c.securityContext) ? u.c.securityContext : undefined;
  const uid = int(sc?.runAsUser) ?? int(podSecurity?.runAsUser);
  if (uid === PROXY_UID) {
    const field = int(sc?.runAsUser) !== undefined ? `${u.field}.securityContext.runAsUser` : `${pod.field}.runAsUser`;
    throw refuse(where, field, `container "${nameOf(u.c)}" would run as uid ${PROXY_UID}, the sidecar's uid, whose traffic is exempt from capture`);
  }
  const ports = u.c.ports;
  if (ports === undefined || ports === null) return;
  if (!Array.isArray(ports)) throw refuse(where, `${u.field}.ports`, 'is not a list');
  ports.forEach((p, i) => {
    const port = isObj(p) ? int(p.containerPort) : undefined;
    if (port === undefined) return;
    const clash = RESERVED_MESH_PORTS.get(port) ?? (port === adminPort ? 'the sidecar admin port' : undefined);
    if (clash) throw refuse(where, `${u.field}.ports[${i}].containerPort`, `container "${nameOf(u.c)}" declares port ${port}, which is ${clash}`);
  });
}

/**
 * Where each config volume is mounted: it must exist in `spec.volumes` and be mounted, without subPath, at one
 * path by every user container that mounts it. The initializer mounts the host-synced volume at that path (its
 * configDigests key) and copies the verified bytes into `ccmesh-config-<name>`, which the app mounts there instead;
 * a mount already rewritten to that copy counts as a mount of the volume (so an injected pod passes through).
 * `field` is the path of the config-volumes annotation, for messages.
 */
export function configMounts(names: readonly string[], volumes: readonly Obj[], users: readonly UserContainer[], where: string, field: string): { name: string; mountPath: string }[] {
  return names.map((name) => {
    if (!volumes.some((v) => v.name === name)) throw refuse(where, field, `volume "${name}" is not in the pod's volumes`);
    const copy = configCopyVolume(name);
    if (copy.length > MAX_VOLUME_NAME) {
      throw refuse(where, field, `config volume "${name}" is too long a name for its verified copy: "${copy}" would exceed ${MAX_VOLUME_NAME} characters (volume names are DNS labels); use a volume name of at most ${MAX_VOLUME_NAME - INJECTED.configCopyPrefix.length} characters`);
    }
    const paths = new Set<string>();
    for (const u of users) {
      mountsOf(u, where).forEach((m, i) => {
        if (m.name !== name && m.name !== copy) return;
        const sub = (typeof m.subPath === 'string' && m.subPath !== '') || (typeof m.subPathExpr === 'string' && m.subPathExpr !== '');
        // SECURITY: the app reads a verified in-memory copy of the whole volume; under Kata a subPath of an emptyDir
        // is backed by the host, not by the guest's tmpfs, so a subPath of the copy would hand the host the file again.
        if (sub) throw refuse(where, `${u.field}.volumeMounts[${i}].${typeof m.subPath === 'string' && m.subPath !== '' ? 'subPath' : 'subPathExpr'}`, `config volume "${name}" is mounted with a subPath; the initializer verifies whole volumes and the app reads their in-memory copy, which can't be mounted by subPath safely (mount the whole volume, e.g. at a directory, and point the app at the file in it)`);
        if (typeof m.mountPath === 'string') paths.add(m.mountPath);
      });
    }
    const [only, ...rest] = [...paths];
    if (only === undefined) throw refuse(where, field, `config volume "${name}" is not mounted by any container`);
    if (rest.length > 0) throw refuse(where, field, `config volume "${name}" is mounted at different paths (${[...paths].join(', ')}); the initializer needs one`);
    for (const root of [PATHS.root, PATHS.configCopyRoot]) {
      if (only === root || only.startsWith(`${root}/`)) throw refuse(where, field, `config volume "${name}" is mounted inside ${root}`);
    }
    const problem = mountPathProblem(digestMountPath(only), MANIFEST_LIMITS.pathChars);
    if (problem !== undefined) throw refuse(where, field, `config volume "${name}" is mounted at ${JSON.stringify(only)}, which can't be pinned in configDigests: expected ${problem}`);
    return { name, mountPath: only };
  });
}

/** Longest Kubernetes volume name (an RFC 1123 DNS label). */
const MAX_VOLUME_NAME = 63;

/**
 * Refuses a user container's mount of ccmesh's own volume by `subPath`/`subPathExpr`, at any path. `inject` makes
 * every other mount of the volume read-only (a writable one would let the container rename the sidecar's TLS
 * directory away and put its own in its place), but a subPath can't be made safe: under Kata a subPath of an emptyDir
 * is backed by the host, not by the guest's memory, so the container would read files the host chose (a workload
 * secret the host knows) instead of the pod's.
 */
export function checkMeshVolumeMounts(users: readonly UserContainer[], where: string): void {
  for (const u of users) {
    mountsOf(u, where).forEach((m, i) => {
      if (m.name !== INJECTED.volume) return;
      const sub = typeof m.subPath === 'string' && m.subPath !== '' ? 'subPath' : typeof m.subPathExpr === 'string' && m.subPathExpr !== '' ? 'subPathExpr' : undefined;
      if (sub === undefined) return;
      throw refuse(where, `${u.field}.volumeMounts[${i}].${sub}`, `container "${nameOf(u.c)}" mounts ccmesh's volume "${INJECTED.volume}" at ${JSON.stringify(m.mountPath ?? null)} with a ${sub} (${JSON.stringify(m[sub])}); under Kata a subPath of an emptyDir is backed by the host, not by the pod's memory, so it would not show the pod's credentials and secret. Mount the whole volume (ccmesh makes every mount of it read-only), e.g. at ${PATHS.root}, and read the file in it`);
    });
  }
}

/**
 * Checks that a user container can get the `ccmesh` volume at PATHS.root: returns true if it already mounts it
 * there, false if the mount must be added; refuses another volume at that path.
 */
export function hasAppMount(u: UserContainer, where: string): boolean {
  const mounts = mountsOf(u, where);
  const i = mounts.findIndex((m) => typeof m.mountPath === 'string' && m.mountPath.replace(/\/+$/, '') === PATHS.root);
  const m = mounts[i];
  if (m === undefined) return false;
  if (m.name !== INJECTED.volume) throw refuse(where, `${u.field}.volumeMounts[${i}]`, `container "${nameOf(u.c)}" mounts volume ${JSON.stringify(m.name)} at ${PATHS.root}, where ccmesh mounts its own volume "${INJECTED.volume}"`);
  return true;
}

/** Kinds of the `mountPropagation` an app container may have on the secure-pv mount volume (set to HostToContainer). */
const APP_PROPAGATION: ReadonlySet<unknown> = new Set([undefined, null, 'None', 'HostToContainer']);

/**
 * Checks `ccmesh.dev/secure-pv` against the pod: the block volume must be a raw block claim — a pod volume of kind
 * `persistentVolumeClaim` (its claim's volumeMode can't be seen here: kubelet refuses a Filesystem claim in
 * `volumeDevices`), an `ephemeral` volume or, for a StatefulSet, a `volumeClaimTemplates` entry, both with
 * `volumeMode: Block` — that no user container uses (only the helper touches the ciphertext); the mount volume must be
 * an `emptyDir` (only a mount point: the data lives on the encrypted device) that user containers mount without
 * subPath and without Bidirectional propagation. `claimTemplates` is the StatefulSet's `spec.volumeClaimTemplates`.
 */
export function checkSecurePv(sp: { readonly block: string; readonly mount: string }, volumes: readonly Obj[], claimTemplates: readonly Obj[], users: readonly UserContainer[], where: string, field: string): void {
  const block = volumes.find((v) => v.name === sp.block);
  const kindOf = (v: Obj): string => Object.keys(v).filter((k) => k !== 'name').join(', ') || 'no source';
  if (block !== undefined) {
    const ephemeral = isObj(block.ephemeral) && isObj(block.ephemeral.volumeClaimTemplate) ? block.ephemeral.volumeClaimTemplate : undefined;
    const ephemeralMode = ephemeral !== undefined && isObj(ephemeral.spec) ? ephemeral.spec.volumeMode : undefined;
    if (isObj(block.persistentVolumeClaim)) {
      // accepted: the claim itself must be volumeMode Block (docs/kubernetes.md)
    } else if (ephemeral !== undefined) {
      if (ephemeralMode !== 'Block') throw refuse(where, field, `block volume "${sp.block}" is an ephemeral volume with volumeMode ${JSON.stringify(ephemeralMode ?? 'Filesystem')}; expected volumeMode "Block" (the raw device is encrypted, not a filesystem the node made)`);
    } else {
      throw refuse(where, field, `block volume "${sp.block}" is a ${kindOf(block)} volume; expected a persistentVolumeClaim or ephemeral volume with volumeMode "Block"`);
    }
  } else {
    const tmpl = claimTemplates.find((c) => isObj(c.metadata) && c.metadata.name === sp.block);
    if (tmpl === undefined) throw refuse(where, field, `block volume "${sp.block}" is neither in the pod's volumes nor a volumeClaimTemplate of the StatefulSet`);
    const mode = isObj(tmpl.spec) ? tmpl.spec.volumeMode : undefined;
    if (mode !== 'Block') throw refuse(where, field, `block volume "${sp.block}" is a volumeClaimTemplate with volumeMode ${JSON.stringify(mode ?? 'Filesystem')}; expected volumeMode "Block"`);
  }
  const mount = volumes.find((v) => v.name === sp.mount);
  if (mount === undefined) throw refuse(where, field, `mount volume "${sp.mount}" is not in the pod's volumes (expected an emptyDir the decrypted filesystem is mounted into)`);
  if (!isObj(mount.emptyDir)) throw refuse(where, field, `mount volume "${sp.mount}" is a ${kindOf(mount)} volume; expected an emptyDir (only a mount point: the data lives on the encrypted block volume)`);
  for (const u of users) {
    const devices = u.c.volumeDevices;
    if (devices !== undefined && devices !== null && !(Array.isArray(devices) && devices.every(isObj))) throw refuse(where, `${u.field}.volumeDevices`, 'is not a list of objects');
    for (const [list, what] of [[Array.isArray(devices) ? (devices as Obj[]) : [], 'volumeDevices'], [mountsOf(u, where), 'volumeMounts']] as const) {
      list.forEach((m, i) => {
        if (m.name === sp.block) throw refuse(where, `${u.field}.${what}[${i}]`, `container "${nameOf(u.c)}" uses the block volume "${sp.block}" of ${ANNOTATIONS.securePv}; only ccmesh's helper opens it (mount "${sp.mount}" for the decrypted filesystem)`);
      });
    }
    mountsOf(u, where).forEach((m, i) => {
      if (m.name !== sp.mount) return;
      const sub = typeof m.subPath === 'string' && m.subPath !== '' ? 'subPath' : typeof m.subPathExpr === 'string' && m.subPathExpr !== '' ? 'subPathExpr' : undefined;
      if (sub !== undefined) throw refuse(where, `${u.field}.volumeMounts[${i}].${sub}`, `container "${nameOf(u.c)}" mounts the secure-pv mount volume "${sp.mount}" with a ${sub}; a subPath does not receive the filesystem mounted later (mount the whole volume)`);
      if (!APP_PROPAGATION.has(m.mountPropagation)) throw refuse(where, `${u.field}.volumeMounts[${i}].mountPropagation`, `container "${nameOf(u.c)}" mounts "${sp.mount}" with mountPropagation ${JSON.stringify(m.mountPropagation)}; app containers get "HostToContainer" (only ccmesh's helper mounts into it)`);
    });
  }
}
