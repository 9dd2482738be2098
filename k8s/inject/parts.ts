/**
 * The objects `inject` adds to a pod template: the initializer init container, the proxy native sidecar and the
 * `ccmesh` in-memory volume. Each builder returns a fresh object with a fixed key order, so the same inputs always
 * serialise to the same bytes (a Kata policy computed over the output stays valid).
 *
 * Fields the API server would default (imagePullPolicy, terminationMessage*, probe timeouts, port protocol, httpGet
 * scheme) are written out explicitly: a stored, defaulted object then still deep-equals what `inject` builds, so a
 * webhook UPDATE of an injected workload is recognised as already injected instead of being refused.
 */
import { SIDECAR_NODE_FLAGS } from '../../contract/sidecar-node-flags.js';
import { renderAppProbe, type AppProbe } from '../../lib/mesh-config/app-probe.js';
import { SIDECAR_ADMIN_PATHS } from '../../lib/mesh-ports.js';
import { PATHS, PROXY_UID } from '../../lib/pod-layout.js';
import { IMAGE_ENTRYPOINT, INJECTED } from '../constants.js';

/** JSON-shaped Kubernetes object. */
type Obj = Record<string, unknown>;

/** Capabilities both injected containers need: NET_ADMIN installs/changes rules, NET_RAW runs iptables. */
const NET_CAPS = Object.freeze(['NET_ADMIN', 'NET_RAW']);

/**
 * Resource requests of the injected containers. The proxy's memory request covers its measured use (~64 MB idle,
 * 70–115 MB under load, docs/proxy.md), so a node the scheduler fills by requests does not run out under load. No
 * limit unless the install or the pod asks for one (docs/kubernetes.md, "Resources").
 */
export const INJECTED_REQUESTS = Object.freeze({
  initializer: Object.freeze({ cpu: '50m', memory: '64Mi' }),
  securePv: Object.freeze({ cpu: '50m', memory: '64Mi' }),
  proxy: Object.freeze({ cpu: '100m', memory: '128Mi' }),
});

/** The proxy container's resources: requests always, limits only where set. */
export interface ProxyResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu?: string; readonly memory?: string };
}

/** Seccomp profile of both injected containers: the runtime's default filter (Pod Security "restricted" asks for it). */
const SECCOMP = Object.freeze({ type: 'RuntimeDefault' });

/** Name of the sidecar's admin container port. */
export const ADMIN_PORT_NAME = 'ccmesh-admin';

/** Values of `--tee` the initializer accepts, by InjectOptions `tee` (the initializer calls configfs-tsm `configfs`). */
export const TEE_ARG = Object.freeze({
  auto: 'auto',
  'configfs-tsm': 'configfs',
  'sev-guest': 'sev-guest',
  'tdx-guest': 'tdx-guest',
} as const);

/** What the injected containers are built from. */
export interface PartsInput {
  readonly image: string;
  readonly coordinator: string;
  /** Pinned Coordinator policy hash (`--coordinator-policy`), when the pods should verify the Coordinator. */
  readonly coordinatorPolicy?: string;
  /** Pinned mesh owner (`--mesh-owner`), with `coordinatorPolicy`: pods refuse a Coordinator serving another owner. */
  readonly meshOwner?: string;
  /** The Coordinator's launch measurements (`--coordinator-measurement`, each 96 hex digits), with `coordinatorPolicy`. */
  readonly coordinatorMeasurements?: readonly string[];
  readonly tee: keyof typeof TEE_ARG;
  readonly ingress: string;
  /** The egress spec with every entry's identity as its 4th field (see renderEgressSpec). */
  readonly egress: string;
  readonly adminPort: number;
  /** Config volumes the initializer verifies and copies: volume name and the path every app container mounts it at. */
  readonly configMounts: readonly { readonly name: string; readonly mountPath: string }[];
  /** The pod's `securityContext.runAsUser`: the app's uid, which gets the workload secret. */
  readonly secretOwner?: number;
  /** The proxy's resources (defaults, the install's limit and the pod's overrides already applied). */
  readonly proxyResources: ProxyResources;
  /** Owner of a new secure-pv filesystem's root: the pod's runAsUser and its fsGroup, runAsGroup or runAsUser. */
  readonly securePvOwner?: { readonly uid: number; readonly gid: number };
  /** `ccmesh.dev/secure-pv`, checked against the pod's volumes: adds the secure-pv helper. */
  readonly securePv?: { readonly block: string; readonly mount: string };
  /** The app probes the sidecar serves on its admin port (probes.ts), in container and kind order. */
  readonly appProbes: readonly AppProbe[];
}

/** Name of the in-memory volume holding the verified copy of config volume `name`. */
export function configCopyVolume(name: string): string {
  return `${INJECTED.configCopyPrefix}${name}`;
}

/** A mount path as the manifest's configDigests key it (no trailing slash), which `--config-volume` names. */
export function digestMountPath(mountPath: string): string {
  return mountPath.replace(/\/+$/, '');
}

/**
 * The verified copy of config volume `name`: memory-backed like `ccmesh` (in a Kata guest its tmpfs lives in guest
 * memory, out of the host's reach). The initializer writes it; the app mounts it, read-only, instead of the
 * host-synced volume. Its own volume rather than a subPath of `ccmesh`: under Kata a subPath of an emptyDir is
 * exported from the host, not taken from the guest's tmpfs.
 */
export function buildConfigCopyVolume(name: string): Obj {
  return { name: configCopyVolume(name), emptyDir: { medium: 'Memory' } };
}

/** The `ccmesh` volume: memory-backed, so keys and the workload secret never reach the host's disk. */
export function buildVolume(): Obj {
  return { name: INJECTED.volume, emptyDir: { medium: 'Memory' } };
}

/** The mount of the `ccmesh` volume added to every user container: read-only (the app only reads its secret). */
export function buildAppMount(): Obj {
  return { name: INJECTED.volume, mountPath: PATHS.root, readOnly: true };
}

/**
 * The initializer: runs as root to install the inbound guard (NET_ADMIN + NET_RAW, and CHOWN to hand the files to
 * their readers; every other capability dropped), then attests, copies the verified config volumes into their
 * in-memory volumes, writes the pod's credentials into the `ccmesh` volume and closes the volume's root
 * (`--volume-root`: mode 0755, the sidecar's) so no other container's user can rename the TLS directory away.
 */
export function buildInitializer(p: PartsInput): Obj {
  return {
    name: INJECTED.initializer,
    image: p.image,
    imagePullPolicy: 'IfNotPresent',
    args: ['initializer', '--coordinator', p.coordinator, '--tee', TEE_ARG[p.tee], '--volume-root', PATHS.root,
      ...(p.coordinatorPolicy !== undefined ? ['--coordinator-policy', p.coordinatorPolicy] : []), ...(p.meshOwner !== undefined ? ['--mesh-owner', p.meshOwner] : []), ...(p.coordinatorMeasurements ?? []).flatMap((m) => ['--coordinator-measurement', m]), ...(p.secretOwner !== undefined ? ['--secret-owner', String(p.secretOwner)] : []),
      ...p.configMounts.flatMap((m) => ['--config-volume', `${m.name}=${digestMountPath(m.mountPath)}`])],
    resources: { requests: { ...INJECTED_REQUESTS.initializer } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      // CHOWN: the TLS files go to the sidecar's uid (it renews into that directory), the secret to the app's.
      capabilities: { add: [...NET_CAPS, 'CHOWN'], drop: ['ALL'] },
      seccompProfile: { ...SECCOMP },
    },
    // Each config volume twice: the host-synced original (read-only, at the path its digests are keyed by) and the
    // in-memory volume the verified bytes are copied into, which the app mounts at that path instead.
    volumeMounts: [
      { name: INJECTED.volume, mountPath: PATHS.root },
      ...p.configMounts.flatMap((m) => [
        { name: m.name, mountPath: m.mountPath, readOnly: true },
        { name: configCopyVolume(m.name), mountPath: `${PATHS.configCopyRoot}/${m.name}` },
      ]),
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The pinned args of the proxy: empty specs are left out (absent = the restrictive default). */
export function proxyArgs(p: PartsInput): string[] {
  const args = ['proxy'];
  if (p.ingress.trim() !== '') args.push('--ingress', p.ingress);
  if (p.egress.trim() !== '') args.push('--egress', p.egress);
  args.push('--admin-port', String(p.adminPort), '--coordinator', p.coordinator);
  for (const a of p.appProbes) args.push('--app-probe', renderAppProbe(a));
  // SECURITY: never --exclude-ports: it uncaptures a port for every source. A probe on a captured port is rewritten
  // through the admin port or refused instead (probes.ts); the only uncaptured app ports are the ones the pod
  // declares `plain`.
  return args;
}

function httpProbe(path: string, port: number, periodSeconds: number, failureThreshold: number): Obj {
  return { httpGet: { path, port, scheme: 'HTTP' }, periodSeconds, failureThreshold, timeoutSeconds: 1, successThreshold: 1 };
}

/**
 * The proxy as a native sidecar (an init container with `restartPolicy: Always`): kubelet starts the next
 * containers only once its startup probe (`/ready`) passes, i.e. once the rules are verified and the guard lifted.
 */
export function buildProxy(p: PartsInput): Obj {
  return {
    name: INJECTED.proxy,
    image: p.image,
    imagePullPolicy: 'IfNotPresent',
    args: proxyArgs(p),
    // The sidecar's V8 flags (contract/sidecar-node-flags.ts): a small young generation keeps its RSS under load down.
    env: [{ name: 'NODE_OPTIONS', value: SIDECAR_NODE_FLAGS.join(' ') }],
    ports: [{ name: ADMIN_PORT_NAME, containerPort: p.adminPort, protocol: 'TCP' }],
    restartPolicy: 'Always',
    // Rules + listeners take seconds; two minutes before kubelet restarts the sidecar.
    startupProbe: httpProbe(SIDECAR_ADMIN_PATHS.ready, p.adminPort, 1, 120),
    livenessProbe: httpProbe(SIDECAR_ADMIN_PATHS.live, p.adminPort, 10, 3),
    // Drift found by the watchdog makes /ready fail: the pod leaves its Services' endpoints.
    readinessProbe: httpProbe(SIDECAR_ADMIN_PATHS.ready, p.adminPort, 5, 3),
    resources: proxyResourcesField(p.proxyResources),
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      // SECURITY: true on purpose. A non-root container's process holds no capabilities (Kubernetes sets no ambient
      // ones); it reaches NET_ADMIN/NET_RAW only by exec of the image's file-capability iptables and ip binaries.
      // false sets no_new_privs, under which exec gains no file capabilities: the sidecar could then never install
      // its rules (image/image.test.ts shows both). The image has no setuid/setgid files and no other file
      // capabilities, and the bounding set holds only NET_ADMIN and NET_RAW, so nothing else can be gained.
      allowPrivilegeEscalation: true,
      readOnlyRootFilesystem: true,
      capabilities: { add: [...NET_CAPS], drop: ['ALL'] },
      seccompProfile: { ...SECCOMP },
    },
    volumeMounts: [{ name: INJECTED.volume, mountPath: PATHS.root }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The `resources` field of the proxy: requests, then limits only when one is set (fixed key order). */
function proxyResourcesField(r: ProxyResources): Obj {
  const limits: Record<string, string> = {};
  if (r.limits.cpu !== undefined) limits.cpu = r.limits.cpu;
  if (r.limits.memory !== undefined) limits.memory = r.limits.memory;
  return { requests: { cpu: r.requests.cpu, memory: r.requests.memory }, ...(Object.keys(limits).length > 0 ? { limits } : {}) };
}

/** The secure-pv helper's paths: the raw device, and where it mounts the mount volume. */
export function securePvPaths(sp: { readonly block: string; readonly mount: string }): { readonly device: string; readonly mountDir: string } {
  return { device: `${PATHS.securePvDeviceDir}/${sp.block}`, mountDir: `${PATHS.securePvMountRoot}/${sp.mount}` };
}

/** How long the secure-pv helper may take to become ready: the first format wipes the whole device (integrity tags). */
const SECURE_PV_STARTUP = Object.freeze({ periodSeconds: 2, failureThreshold: 1800 });

/**
 * The secure-pv helper (`ccmesh.dev/secure-pv`, docs/kubernetes.md "Encrypted persistent volumes"): a native sidecar
 * after the proxy that formats the raw block device with LUKS2 on first use (only when blank), opens it with a key
 * derived from the workload secret, mounts its ext4 filesystem into the mount volume with `Bidirectional`
 * propagation (the app containers see it through `HostToContainer`), and on SIGTERM — after the app containers have
 * stopped — unmounts and closes it. Its startup probe passes once the filesystem is mounted, so the app never starts
 * on the empty mount volume.
 *
 * SECURITY: privileged, as nothing less works: cryptsetup needs CAP_SYS_ADMIN and the device-mapper control device,
 * mount needs CAP_SYS_ADMIN, and Kubernetes allows `mountPropagation: Bidirectional` only in privileged containers.
 * It runs ccmesh's own image and code only, reads the workload secret through a read-only mount, and never runs app
 * code; the pod fails the `baseline` Pod Security Standard because of it (docs/kubernetes.md, "Pod Security").
 */
export function buildSecurePv(p: PartsInput, sp: { readonly block: string; readonly mount: string }): Obj {
  const { device, mountDir } = securePvPaths(sp);
  return {
    name: INJECTED.securePv,
    image: p.image,
    imagePullPolicy: 'IfNotPresent',
    args: ['secure-pv', '--device', device, '--volume', sp.block, '--mount-dir', mountDir, '--workload-secret', PATHS.workloadSecret,
      ...(p.securePvOwner !== undefined ? ['--owner', `${p.securePvOwner.uid}:${p.securePvOwner.gid}`] : [])],
    restartPolicy: 'Always',
    startupProbe: {
      exec: { command: [...IMAGE_ENTRYPOINT, 'secure-pv', '--check-mounted', '--volume', sp.block, '--mount-dir', mountDir] },
      ...SECURE_PV_STARTUP,
      timeoutSeconds: 5,
      successThreshold: 1,
    },
    resources: { requests: { ...INJECTED_REQUESTS.securePv } },
    securityContext: {
      privileged: true,
      runAsUser: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      seccompProfile: { ...SECCOMP },
    },
    volumeDevices: [{ name: sp.block, devicePath: device }],
    volumeMounts: [
      { name: INJECTED.volume, mountPath: PATHS.root, readOnly: true },
      { name: sp.mount, mountPath: mountDir, mountPropagation: 'Bidirectional' },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}
