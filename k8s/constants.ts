/**
 * Names that the injector, `ccmesh generate`, `ccmesh install --print` and the Helm chart must agree on. Ports and
 * pod paths live in `lib/mesh-ports.ts` and `lib/pod-layout.ts`; this file holds only the Kubernetes-facing names. Define each once here.
 */
import { PORTS } from '../lib/mesh-ports.js';

/** Annotation keys read from pod templates (docs/design.md §5). */
export const ANNOTATIONS = Object.freeze({
  inject: 'ccmesh.dev/inject',
  ingress: 'ccmesh.dev/ingress',
  egress: 'ccmesh.dev/egress',
  adminPort: 'ccmesh.dev/admin-port',
  workloadSecretId: 'ccmesh.dev/workload-secret-id',
  podRole: 'ccmesh.dev/pod-role',
  configVolumes: 'ccmesh.dev/config-volumes',
  securePv: 'ccmesh.dev/secure-pv',
  /** Per-pod overrides of the proxy sidecar's resources (Kubernetes quantities). */
  proxyCpuRequest: 'ccmesh.dev/proxy-cpu-request',
  proxyMemoryRequest: 'ccmesh.dev/proxy-memory-request',
  proxyCpuLimit: 'ccmesh.dev/proxy-cpu-limit',
  proxyMemoryLimit: 'ccmesh.dev/proxy-memory-limit',
  /** `"false"`: refuse kubelet probes on captured ports instead of rewriting them through the sidecar. */
  rewriteProbes: 'ccmesh.dev/rewrite-probes',
  /** Set by `inject` on every resource it changed (value: the ccmesh version that injected it). */
  injected: 'ccmesh.dev/injected',
  /** Kata agent policy: base64 of the Rego document. */
  kataPolicy: 'io.katacontainers.config.agent.policy',
  /** Kata / CoCo initdata: base64 of the gzip of a TOML document carrying its own `algorithm`. */
  kataInitData: 'io.katacontainers.config.hypervisor.cc_init_data',
});

/** Names of the containers and volume that `inject` adds. */
export const INJECTED = Object.freeze({
  initializer: 'ccmesh-initializer',
  proxy: 'ccmesh-proxy',
  volume: 'ccmesh',
  /** Prefix of the in-memory volume holding the verified copy of a pinned config volume (`ccmesh-config-<volume>`). */
  configCopyPrefix: 'ccmesh-config-',
  /** The native sidecar that opens and mounts the encrypted volume of `ccmesh.dev/secure-pv`. */
  securePv: 'ccmesh-secure-pv',
});

/** The image's entrypoint (scripts/build-image.sh), for exec probes that run ccmesh inside an injected container. */
export const IMAGE_ENTRYPOINT: readonly string[] = Object.freeze(['/usr/local/bin/node', '/opt/ccmesh/bin/ccmesh']);

/** Namespace label that opts a namespace into the admission webhook. */
export const INJECTION_NAMESPACE_LABEL = 'ccmesh.dev/injection';

/** Container image repository; the tag is the ccmesh version unless overridden. */
export const IMAGE_REPOSITORY = 'ghcr.io/ccmesh/ccmesh';

/** Kubernetes object names of the install. */
export const INSTALL_NAMES = Object.freeze({
  namespace: 'ccmesh-system',
  coordinator: 'coordinator',
  coordinatorReady: 'coordinator-ready',
  injector: 'ccmesh-injector',
  webhookConfiguration: 'ccmesh-injector',
  /** Path the webhook serves AdmissionReview on. */
  webhookPath: '/inject',
  /** Name of the one webhook inside the MutatingWebhookConfiguration (must be a fully qualified name). */
  webhookName: 'inject.ccmesh.dev',
});

/**
 * The Coordinator mesh API address injected pods and `ccmesh generate` use: the `coordinator-ready` Service of the
 * install (only ready replicas) by its namespace-qualified name, so it resolves from every app namespace.
 */
export function coordinatorMeshAddress(namespace: string): string {
  return `${INSTALL_NAMES.coordinatorReady}.${namespace}.svc:${PORTS.coordinatorMesh}`;
}

/** {@link coordinatorMeshAddress} of an install in the default namespace: the default of `inject` and `generate`. */
export const DEFAULT_COORDINATOR_ADDRESS = coordinatorMeshAddress(INSTALL_NAMES.namespace);
