/**
 * Where things live in a pod and in the Coordinator's container — paths, the proxy's uid, the store directory — so the
 * initializer, the sidecar, iptables, the injector and the chart agree. Define each exactly once here.
 */

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
  /** Where the secure-pv helper gets the raw block device of `ccmesh.dev/secure-pv` (`<dir>/<blockVolume>`). */
  securePvDeviceDir: '/dev/ccmesh-pv',
  /** Where the secure-pv helper mounts the mount volume it mounts the decrypted filesystem into (`<dir>/<mountVolume>`). */
  securePvMountRoot: '/ccmesh-pv',
  configfsTsmReport: '/sys/kernel/config/tsm/report',
  sevGuestDevice: '/dev/sev-guest',
  tdxGuestDevice: '/dev/tdx_guest',
});

/** Directory of the Coordinator's embedded file store (its default `--store file:DIR`; a PVC in Kubernetes). */
export const COORDINATOR_STORE_DIR = '/var/lib/ccmesh/coordinator';
