/**
 * The one pure injection function shared by `ccmesh generate` and the admission webhook: a Kubernetes resource in,
 * the same resource with the mesh added out (docs/design.md §5). It never mutates its input and is idempotent: an injected
 * resource comes back deep-equal and in the same key order, so its serialisation — and a Kata policy computed over
 * it — does not change.
 *
 * Decisions (docs/kubernetes.md, "Injection"):
 * - Only the pod template changes: initializer (first init container), proxy (native sidecar, second), the `ccmesh`
 *   volume, a read-only `/ccmesh` mount in every user container and init container, and the
 *   `ccmesh.dev/injected: <version>` annotation. Added keys go at the end of their object; existing keys keep their
 *   place and value, except that every mount of the `ccmesh` volume a user container already has (at `/ccmesh` or
 *   elsewhere) is made read-only, and one by subPath is refused: only the initializer and the sidecar write it.
 * - Each volume of `ccmesh.dev/config-volumes` gets an in-memory copy volume `ccmesh-config-<name>`; the app's
 *   mounts of the volume are switched to the copy (read-only), and only the initializer still mounts the host-synced
 *   original, verifies it against the manifest's configDigests and writes the verified bytes into the copy.
 * - A resource carrying the injected marker whose ccmesh containers no longer match its annotations or options
 *   (annotations edited, new version) is re-injected: the old ccmesh containers are replaced. Without the marker, a
 *   container named like ours that differs from what we'd inject is refused — it isn't ours.
 */
import { isDeepStrictEqual } from 'node:util';
import { VERSION } from '../../lib/version.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { parseEgressSpec, parseHostPort, renderEgressSpec } from '../../lib/mesh-config/egress.js';
import { parseIngressSpec } from '../../lib/mesh-config/ingress.js';
import { SIDECAR_ADMIN_PATHS } from '../../lib/mesh-ports.js';
import { isOptedOut, readPodAnnotations, templateAnnotations } from '../annotations.js';
import { ANNOTATIONS, DEFAULT_COORDINATOR_ADDRESS, IMAGE_REPOSITORY, INJECTED } from '../constants.js';
import { expectedQuantity, parseQuantity } from '../quantity.js';
import { checkMeshVolumeMounts, checkSecurePv, checkUserContainer, configMounts, hasAppMount, isObj, mountsOf, refuse, type UserContainer } from './checks.js';
import { buildAppMount, buildConfigCopyVolume, buildInitializer, buildProxy, buildSecurePv, buildVolume, configCopyVolume, INJECTED_REQUESTS, TEE_ARG, type PartsInput } from './parts.js';
import { applyProbeRewrites, pinnedAppProbes, planProbes } from './probes.js';
import { resolveProxyResources } from './proxy-resources.js';

/** JSON-shaped resource as parsed from YAML. */
export type KubeObject = Record<string, unknown>;

/** Settings of the injected containers that come from the installation, not from the pod. */
export interface InjectOptions {
  /** Image of both injected containers; default `${IMAGE_REPOSITORY}:${VERSION}`. */
  readonly image: string;
  /** Coordinator mesh API HOST:PORT pinned in args; default {@link DEFAULT_COORDINATOR_ADDRESS} (`install`'s Service). */
  readonly coordinator: string;
  /** Evidence source of the initializer (see attestation/issuers/select.ts); default 'auto'. */
  readonly tee: 'auto' | 'configfs-tsm' | 'sev-guest' | 'tdx-guest';
  /** SHA-256 hex of the Coordinator's policy: pinned as `--coordinator-policy`, so pods verify the Coordinator. */
  readonly coordinatorPolicy?: string;
  /**
   * The mesh owner pin (64 hex digits, the workspace's `mesh-owner`): pinned as `--mesh-owner`, so pods refuse a
   * genuine Coordinator that serves another owner. Required with `coordinatorPolicy`.
   */
  readonly meshOwner?: string;
  /**
   * The Coordinator's launch measurements (SEV-SNP MEASUREMENT / TDX MRTD, 96 lowercase hex digits each): pinned as
   * `--coordinator-measurement`, so a genuine guest of another image carrying the Coordinator's policy hash is
   * refused. At least one with `coordinatorPolicy`.
   */
  readonly coordinatorMeasurements?: readonly string[];
  /**
   * Memory limit of every proxy sidecar (a Kubernetes quantity, at least the proxy's memory request); absent: no
   * limit. A pod's `ccmesh.dev/proxy-memory-limit` overrides it.
   */
  readonly proxyMemoryLimit?: string;
  /**
   * Add `prometheus.io/scrape`, `/port` (the sidecar admin port) and `/path` annotations to injected pods that carry
   * no `prometheus.io/*` annotation of their own.
   */
  readonly prometheusAnnotations?: boolean;
}

/** Defaults of {@link InjectOptions}. */
export const DEFAULT_INJECT_OPTIONS: InjectOptions = Object.freeze({
  image: `${IMAGE_REPOSITORY}:${VERSION}`,
  coordinator: DEFAULT_COORDINATOR_ADDRESS,
  tee: 'auto',
});

/** Kinds whose objects carry a pod template that `inject` changes. */
export const POD_SPAWNING_KINDS: readonly string[] = Object.freeze(['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
});

const OUR_CONTAINERS: ReadonlySet<string> = new Set([INJECTED.initializer, INJECTED.proxy, INJECTED.securePv]);

/** Where the pod template lives: Pod → the object itself; Deployment etc. → spec.template; CronJob → spec.jobTemplate.spec.template. */
export function podTemplateOf(resource: KubeObject): { readonly path: readonly string[]; readonly template: KubeObject } | undefined {
  const kind = resource.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(TEMPLATE_PATHS, kind)) return undefined;
  const path = TEMPLATE_PATHS[kind]!;
  let at: unknown = resource;
  for (const key of path) at = isObj(at) ? at[key] : undefined;
  return isObj(at) ? { path, template: at } : undefined;
}

/** True when the pod template carries the `ccmesh.dev/injected` marker. */
export function isInjected(resource: KubeObject): boolean {
  const t = podTemplateOf(resource);
  return t !== undefined && typeof templateAnnotations(t.template)[ANNOTATIONS.injected] === 'string';
}

/** `Kind namespace/name` of a resource for messages (`generateName*` when it has no name yet). */
export function describeResource(resource: KubeObject): string {
  const meta = isObj(resource.metadata) ? resource.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)';
  const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? `${meta.namespace}/` : '';
  return `${typeof resource.kind === 'string' ? resource.kind : '(no kind)'} ${ns}${name}`;
}

function checkOptions(opts: InjectOptions): void {
  const bad = (what: string, v: unknown, expected: string): CcmeshError =>
    new CcmeshError(ErrorCode.USAGE, `invalid inject option ${what}: got ${JSON.stringify(v)}, expected ${expected}`);
  if (typeof opts.image !== 'string' || opts.image === '' || /\s/.test(opts.image)) throw bad('image', opts.image, 'an image reference');
  if (typeof opts.coordinator !== 'string' || !parseHostPort(opts.coordinator)) throw bad('coordinator', opts.coordinator, 'HOST:PORT or [IPv6]:PORT');
  if (!Object.hasOwn(TEE_ARG, opts.tee)) throw bad('tee', opts.tee, `one of ${Object.keys(TEE_ARG).join(', ')}`);
  if (opts.coordinatorPolicy !== undefined && !/^[0-9a-f]{64}$/.test(opts.coordinatorPolicy)) throw bad('coordinatorPolicy', opts.coordinatorPolicy, '64 lowercase hex digits (SHA-256)');
  if (opts.meshOwner !== undefined && !/^[0-9a-f]{64}$/.test(opts.meshOwner)) throw bad('meshOwner', opts.meshOwner, '64 lowercase hex digits (the mesh owner pin)');
  // SECURITY: a pod that verifies the Coordinator must also pin whose mesh it serves (the initializer refuses
  // --coordinator-policy without --mesh-owner); the reverse needs the verified evidence the owner is bound into.
  if ((opts.coordinatorPolicy === undefined) !== (opts.meshOwner === undefined)) {
    throw bad(opts.meshOwner === undefined ? 'meshOwner' : 'coordinatorPolicy', opts.meshOwner === undefined ? undefined : opts.coordinatorPolicy, 'both the Coordinator policy and the mesh owner pin, or neither');
  }
  const measurements = opts.coordinatorMeasurements ?? [];
  if (!Array.isArray(measurements) || measurements.some((m) => typeof m !== 'string' || !/^[0-9a-f]{96}$/.test(m))) {
    throw bad('coordinatorMeasurements', opts.coordinatorMeasurements, 'a list of launch measurements, 96 lowercase hex digits each');
  }
  // SECURITY: the initializer refuses --coordinator-policy without a measurement (HOST_DATA alone proves nothing).
  if ((opts.coordinatorPolicy === undefined) !== (measurements.length === 0)) {
    throw bad('coordinatorMeasurements', opts.coordinatorMeasurements, 'at least one Coordinator launch measurement together with the Coordinator policy, and none without it');
  }
  if (opts.proxyMemoryLimit !== undefined) {
    const limit = typeof opts.proxyMemoryLimit === 'string' ? parseQuantity(opts.proxyMemoryLimit, 'memory') : undefined;
    if (limit === undefined) throw bad('proxyMemoryLimit', opts.proxyMemoryLimit, expectedQuantity('memory'));
    // A limit below the default request would make every pod without its own request annotation invalid.
    if (limit < parseQuantity(INJECTED_REQUESTS.proxy.memory, 'memory')!) throw bad('proxyMemoryLimit', opts.proxyMemoryLimit, `at least the proxy's memory request ${INJECTED_REQUESTS.proxy.memory}`);
  }
  if (opts.prometheusAnnotations !== undefined && typeof opts.prometheusAnnotations !== 'boolean') throw bad('prometheusAnnotations', opts.prometheusAnnotations, 'true or false');
}

/** Reads `obj[key]` as a list of objects; absent/null = empty; anything else is refused. */
function listAt(obj: KubeObject, key: string, field: string, where: string): KubeObject[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isObj)) throw refuse(where, field, 'is not a list of objects');
  return v;
}

/**
 * Returns a NEW object (input untouched, deep-copied); throws CcmeshError(ErrorCode.K8S_INJECT_REFUSED) naming the
 * resource (kind/namespace/name), the field and the reason. Non-pod-spawning kinds and opted-out pods come back equal
 * to the input.
 */
export function inject(resource: KubeObject, opts: Partial<InjectOptions> = {}): KubeObject {
  const options: InjectOptions = { ...DEFAULT_INJECT_OPTIONS, ...opts };
  checkOptions(options);
  const out = structuredClone(resource);
  const kind = out.kind;
  if (typeof kind !== 'string' || !POD_SPAWNING_KINDS.includes(kind)) return out;
  const where = describeResource(out);
  const found = podTemplateOf(out);
  const prefix = TEMPLATE_PATHS[kind]!.join('.');
  const at = (field: string): string => (prefix === '' ? field : `${prefix}.${field}`);
  if (!found) throw refuse(where, prefix, 'the pod template is missing or not an object');
  const template = found.template;

  if (template.metadata !== undefined && !isObj(template.metadata)) throw refuse(where, at('metadata'), 'is not an object');
  const rawAnn = isObj(template.metadata) ? template.metadata.annotations : undefined;
  if (rawAnn !== undefined && rawAnn !== null && !isObj(rawAnn)) throw refuse(where, at('metadata.annotations'), 'is not a map of strings');
  if (isOptedOut(template, where)) return out;
  const ann = readPodAnnotations(template, where);

  const spec = template.spec;
  if (!isObj(spec)) throw refuse(where, at('spec'), 'the pod spec is missing or not an object');
  if (spec.hostNetwork === true) throw refuse(where, at('spec.hostNetwork'), "is true: a pod in the node's network namespace can't be captured or guarded");
  const podSecurity = isObj(spec.securityContext) ? spec.securityContext : undefined;

  const containers = listAt(spec, 'containers', at('spec.containers'), where);
  if (containers.length === 0) throw refuse(where, at('spec.containers'), 'the pod has no containers');
  const initContainers = listAt(spec, 'initContainers', at('spec.initContainers'), where);
  const volumes = listAt(spec, 'volumes', at('spec.volumes'), where);

  containers.forEach((c, i) => {
    if (typeof c.name === 'string' && OUR_CONTAINERS.has(c.name)) {
      throw refuse(where, at(`spec.containers[${i}].name`), `"${c.name}" is the name of a container ccmesh injects (as an init container)`);
    }
  });
  const users: UserContainer[] = [
    ...initContainers.map((c, i) => ({ c, field: at(`spec.initContainers[${i}]`) })).filter((u) => !OUR_CONTAINERS.has(u.c.name as string)),
    ...containers.map((c, i) => ({ c, field: at(`spec.containers[${i}]`) })),
  ];
  // SECURITY: with one PID namespace, a container running as the sidecar's uid (which an image's USER can choose
  // without the pod spec saying so) reaches the sidecar's mount namespace through /proc/<pid>/root — where the ccmesh
  // volume is writable — and can signal it; the read-only mounts would protect nothing.
  if (spec.shareProcessNamespace === true) throw refuse(where, at('spec.shareProcessNamespace'), 'is true: containers sharing the sidecar\'s PID namespace can reach its files through /proc; meshed pods keep their own');
  for (const u of users) checkUserContainer(u, { security: podSecurity, field: at('spec.securityContext') }, ann.adminPort, where);

  const probeRewrites = planProbes(users, { ingress: parseIngressSpec(ann.ingress).entries, adminPort: ann.adminPort, rewrite: ann.rewriteProbes, pinned: pinnedAppProbes(initContainers) }, where);
  const parts: PartsInput = {
    image: options.image,
    coordinator: options.coordinator,
    ...(options.coordinatorPolicy !== undefined ? { coordinatorPolicy: options.coordinatorPolicy } : {}),
    ...(options.meshOwner !== undefined ? { meshOwner: options.meshOwner } : {}),
    ...(options.coordinatorMeasurements !== undefined ? { coordinatorMeasurements: options.coordinatorMeasurements } : {}),
    tee: options.tee,
    ingress: ann.ingress,
    // Every entry's server identity written out (the remote's DNS name unless the annotation gives one), so the
    // pinned arg states whom the sidecar accepts.
    egress: renderEgressSpec(parseEgressSpec(ann.egress).entries),
    adminPort: ann.adminPort,
    configMounts: configMounts(ann.configVolumes, volumes, users, where, at(`metadata.annotations["${ANNOTATIONS.configVolumes}"]`)),
    ...(typeof podSecurity?.runAsUser === 'number' ? { secretOwner: podSecurity.runAsUser } : {}),
    proxyResources: resolveProxyResources(ann.proxyResources, options.proxyMemoryLimit, where, at('metadata.annotations')),
    ...(ann.securePv !== undefined ? { securePv: ann.securePv } : {}),
    ...(ann.securePv !== undefined && typeof podSecurity?.runAsUser === 'number'
      ? { securePvOwner: { uid: podSecurity.runAsUser, gid: [podSecurity.fsGroup, podSecurity.runAsGroup, podSecurity.runAsUser].find((g): g is number => typeof g === 'number')! } }
      : {}),
    appProbes: probeRewrites.map((r) => r.probe),
  };
  if (ann.securePv !== undefined) {
    const claimTemplates = kind === 'StatefulSet' && isObj(out.spec) ? listAt(out.spec, 'volumeClaimTemplates', 'spec.volumeClaimTemplates', where) : [];
    checkSecurePv(ann.securePv, volumes, claimTemplates, users, where, at(`metadata.annotations["${ANNOTATIONS.securePv}"]`));
  }
  const wantInit = buildInitializer(parts);
  const wantProxy = buildProxy(parts);
  const wantSecurePv = parts.securePv !== undefined ? buildSecurePv(parts, parts.securePv) : undefined;
  const wantOurs = [wantInit, wantProxy, ...(wantSecurePv !== undefined ? [wantSecurePv] : [])];

  // Our containers: kept as given when exactly right and in place; replaced when the marker says a previous
  // injection made them; otherwise they are someone else's containers under our names.
  const inPlace = wantOurs.every((want, i) => sameContainer(initContainers[i], want))
    && initContainers.slice(wantOurs.length).every((c) => !OUR_CONTAINERS.has(c.name as string));
  const marked = typeof templateAnnotations(template)[ANNOTATIONS.injected] === 'string';
  if (!inPlace && !marked) {
    // Refused: the message names the first of our names whose container is wrong (unknown, different or misplaced),
    // else the first of our names at all.
    const named = initContainers.map((c, i) => ({ c, i })).filter(({ c }) => OUR_CONTAINERS.has(c.name as string));
    const wrong = named.find(({ c, i }) => {
      const slot = wantOurs.findIndex((w) => w.name === c.name);
      return slot !== i || !sameContainer(c, wantOurs[slot]!);
    });
    const first = wrong ?? named[0];
    if (first !== undefined) {
      const { c, i } = first;
      const want = wantOurs.find((w) => w.name === c.name);
      if (want === undefined) throw refuse(where, at(`spec.initContainers[${i}]`), `a container named "${String(c.name)}" is one ccmesh injects only for ${ANNOTATIONS.securePv}, which this pod template does not set, and it has no ${ANNOTATIONS.injected} annotation`);
      const differs = [...new Set([...Object.keys(c), ...Object.keys(want)])].filter((k) => !isDeepStrictEqual(c[k], want[k]));
      const why = differs.length > 0 ? `differs in ${differs.join(', ')}` : `is at position ${i}`;
      throw refuse(where, at(`spec.initContainers[${i}]`), `a container named "${String(c.name)}" ${why} from the one ccmesh injects, and the pod template has no ${ANNOTATIONS.injected} annotation`);
    }
  }

  // Validate every user container's /ccmesh and other mounts of ccmesh's volume before changing anything.
  const needsMount = users.map((u) => !hasAppMount(u, where));
  checkMeshVolumeMounts(users, where);
  const volIndex = volumes.findIndex((v) => v.name === INJECTED.volume);
  const wantVolume = buildVolume();
  if (volIndex >= 0 && !isDeepStrictEqual(volumes[volIndex], wantVolume)) {
    throw refuse(where, at(`spec.volumes[${volIndex}]`), `a volume named "${INJECTED.volume}" exists with another definition than ccmesh's (an emptyDir with medium Memory)`);
  }

  // The verified copies of the config volumes: an existing volume by that name must be exactly ours.
  const wantCopies = parts.configMounts.map((m) => buildConfigCopyVolume(m.name));
  const missingCopies = wantCopies.filter((want) => {
    const i = volumes.findIndex((v) => v.name === want.name);
    if (i >= 0 && !isDeepStrictEqual(volumes[i], want)) {
      throw refuse(where, at(`spec.volumes[${i}]`), `a volume named "${String(want.name)}" exists with another definition than the verified config copy ccmesh makes (an emptyDir with medium Memory)`);
    }
    return i < 0;
  });
  // A copy an earlier injection made for a volume that is no longer pinned (the annotation was edited): the initializer
  // no longer fills it, so the app goes back to the volume itself and the copy volume is dropped.
  const unpinnedCopies = new Map<string, string>();
  if (marked) {
    for (const v of volumes) {
      const original = typeof v.name === 'string' && v.name.startsWith(INJECTED.configCopyPrefix) ? v.name.slice(INJECTED.configCopyPrefix.length) : undefined;
      if (original === undefined || parts.configMounts.some((m) => m.name === original) || !volumes.some((o) => o.name === original)) continue;
      if (isDeepStrictEqual(v, buildConfigCopyVolume(original))) unpinnedCopies.set(v.name as string, original);
    }
  }

  users.forEach((u, i) => {
    // SECURITY: the app reads the verified in-memory copy, never the host-synced volume (which the host can change
    // after the initializer checked it): each mount of a config volume is switched to its copy, read-only.
    for (const m of mountsOf(u, where)) {
      const back = typeof m.name === 'string' ? unpinnedCopies.get(m.name) : undefined;
      if (back !== undefined) m.name = back;
      const pinned = parts.configMounts.find((c) => m.name === c.name || m.name === configCopyVolume(c.name));
      if (pinned === undefined) continue;
      m.name = configCopyVolume(pinned.name);
      m.readOnly = true;
    }
    // SECURITY: only the initializer and the sidecar write ccmesh's volume. A user container that could would rename
    // the sidecar's TLS directory away and put its own (root, mesh CA, leaves) in its place, or read the key a
    // renewal writes there: each of its mounts of the volume, wherever it is, becomes read-only.
    for (const m of mountsOf(u, where)) if (m.name === INJECTED.volume) m.readOnly = true;
    // The helper mounts the decrypted filesystem into the mount volume after the app's mount was set up: the app sees
    // it only through propagation from the host's mount namespace (checkSecurePv refused anything else).
    if (parts.securePv !== undefined) for (const m of mountsOf(u, where)) if (m.name === parts.securePv.mount) m.mountPropagation = 'HostToContainer';
    if (!needsMount[i]) return;
    const mounts = mountsOf(u, where);
    if (Array.isArray(u.c.volumeMounts)) mounts.push(buildAppMount());
    else u.c.volumeMounts = [buildAppMount()];
  });
  applyProbeRewrites(probeRewrites, ann.adminPort);
  if (!inPlace) {
    const userInit = initContainers.filter((c) => !OUR_CONTAINERS.has(c.name as string));
    spec.initContainers = [...wantOurs, ...userInit];
  }
  if (unpinnedCopies.size > 0) spec.volumes = volumes.filter((v) => !unpinnedCopies.has(v.name as string));
  const addVolumes = [...(volIndex < 0 ? [wantVolume] : []), ...missingCopies];
  if (addVolumes.length > 0) {
    if (Array.isArray(spec.volumes)) (spec.volumes as unknown[]).push(...addVolumes);
    else spec.volumes = addVolumes;
  }
  if (!isObj(template.metadata)) template.metadata = {};
  const meta = template.metadata as KubeObject;
  if (!isObj(meta.annotations)) meta.annotations = {};
  const annotations = meta.annotations as KubeObject;
  // The pod's own scrape annotations (its app's metrics) win: Prometheus reads one set per pod.
  if (options.prometheusAnnotations === true && !Object.keys(annotations).some((k) => k.startsWith(PROMETHEUS_ANNOTATION_PREFIX))) {
    Object.assign(annotations, sidecarPrometheusAnnotations(ann.adminPort));
  }
  annotations[ANNOTATIONS.injected] = VERSION;
  return out;
}

/** Prefix of the annotations Prometheus' kubernetes_sd pod scrape convention reads. */
export const PROMETHEUS_ANNOTATION_PREFIX = 'prometheus.io/';

/** The scrape annotations of an injected pod: the sidecar's admin port and its metrics path. */
export function sidecarPrometheusAnnotations(adminPort: number): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(adminPort), 'prometheus.io/path': SIDECAR_ADMIN_PATHS.metrics };
}

/** Where the API server's ServiceAccount admission plugin mounts the token into every container of a pod. */
const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * True when `actual` is the container we would inject, allowing for the one change the API server makes before
 * admission webhooks run: the ServiceAccount token mount appended to every container of a pod created from an
 * injected template. Without this a controller's pods would be re-injected (and refused when a policy pins them).
 */
function sameContainer(actual: Record<string, unknown> | undefined, want: Record<string, unknown>): boolean {
  if (isDeepStrictEqual(actual, want) || actual === undefined) return actual !== undefined;
  const mounts = actual.volumeMounts;
  if (!Array.isArray(mounts)) return false;
  const kept = mounts.filter((m: unknown) => !(isObj(m) && m.mountPath === SERVICE_ACCOUNT_MOUNT));
  return kept.length < mounts.length && isDeepStrictEqual({ ...actual, volumeMounts: kept }, want);
}
