/**
 * Ports, paths and names that more than one unit (proxy, iptables, initializer, chart, tests) must agree on.
 * Define each exactly once here; everything else imports it.
 */

/** TCP ports of the mesh (docs/design.md §5). */
export const PORTS = Object.freeze({
  /** Inbound mTLS listener that captured traffic is redirected to. */
  inboundMtls: 15006,
  /** Inbound TLS-only (server-auth) listener. */
  inboundTls: 15007,
  /** Transparent outbound capture listener. */
  outbound: 15001,
  /** Sidecar admin: /live, /ready, /metrics. */
  sidecarAdmin: 15020,
  /** Coordinator user API (manifest set/get, recovery). */
  coordinatorUser: 1313,
  /** Coordinator mesh API (pods obtain certificates). */
  coordinatorMesh: 7777,
  /** Coordinator probes and metrics. */
  coordinatorMetrics: 9102,
  /** Sidecar-injection admission webhook (HTTPS). */
  injectorWebhook: 9443,
  /** Injector probes and metrics (plain HTTP, separate from the webhook's TLS port). */
  injectorMetrics: 9103,
});

/**
 * HTTP paths of the probe + metrics port of the Coordinator (and of the injector): the install manifests and the
 * Helm chart point kubelet probes and Prometheus at these.
 */
export const ADMIN_HTTP_PATHS = Object.freeze({
  startupProbe: '/probe/startup',
  livenessProbe: '/probe/liveness',
  readinessProbe: '/probe/readiness',
  metrics: '/metrics',
});

/** HTTP paths of the sidecar proxy's admin port (the injector points the sidecar's kubelet probes at them). */
export const SIDECAR_ADMIN_PATHS = Object.freeze({
  live: '/live',
  ready: '/ready',
  metrics: '/metrics',
});

/** Directory of the Coordinator's embedded file store (its default `--store file:DIR`; a PVC in Kubernetes). */
export const COORDINATOR_STORE_DIR = '/var/lib/ccmesh/coordinator';

/**
 * uid the sidecar proxy runs as. The injector sets it as the sidecar's runAsUser and iptables exempts this uid's
 * outbound traffic from transparent capture, so both must read it from here.
 */
export const PROXY_UID = 1337;

/** Filesystem paths inside a pod (docs/design.md §5). */
export const PATHS = Object.freeze({
  root: '/ccmesh',
  tlsDir: '/ccmesh/tls',
  keyFile: 'key.pem',
  chainFile: 'chain.pem',
  meshCaFile: 'mesh-ca.pem',
  rootCaFile: 'root-ca.pem',
  workloadSecret: '/ccmesh/secrets/workload-secret',
  readyFile: '/ccmesh/ready',
  /**
   * Where the initializer mounts the verified copy of each pinned config volume (`<root>/<volume>`), each its own
   * in-memory emptyDir that the app mounts at the config volume's original path. Outside /ccmesh: the copies are
   * separate volumes (a subPath of an emptyDir is not backed by the guest's tmpfs under Kata).
   */
  configCopyRoot: '/ccmesh-config',
  configfsTsmReport: '/sys/kernel/config/tsm/report',
  sevGuestDevice: '/dev/sev-guest',
  tdxGuestDevice: '/dev/tdx_guest',
});

/** Process exit codes shared by every ccmesh command. */
export const EXIT = Object.freeze({
  ok: 0,
  internal: 1,
  /** Evidence or another verified object was rejected. */
  rejected: 3,
  /** Bad usage, bad configuration or unreadable input (sysexits EX_USAGE). */
  usage: 64,
});
