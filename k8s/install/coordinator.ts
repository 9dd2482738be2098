/**
 * The Coordinator's objects: ServiceAccount (no API token), the headless `coordinator` Service that publishes
 * unready endpoints (stable pod DNS for peers, metrics), the `coordinator-ready` Service that only routes to ready
 * pods (what the CLI and the injected initializers use), the StatefulSet with its store PVC, and the
 * PodDisruptionBudget. Every object is validated against the Kubernetes schema as it is built.
 */
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ADMIN_HTTP_PATHS, PORTS } from '../../lib/mesh-ports.js';
import { COORDINATOR_STORE_DIR } from '../../lib/pod-layout.js';
import { ANNOTATIONS, INSTALL_NAMES } from '../constants.js';
import { baseContainer, httpProbe, objectLabels, podLabels, podSecurityContext, prometheusAnnotations, schedulingFields, selectorLabels, stableLabels, TMP_DIR } from './pod-parts.js';
import { coordinatorReplicas, type InstallValues } from './values.js';

/** Name of the store's volumeClaimTemplate (PVCs are named `store-coordinator-<n>`). */
export const STORE_VOLUME = 'store';

/** Where the etcd client TLS Secret (`ca.crt`, `tls.crt`, `tls.key`) is mounted in the Coordinator. */
export const ETCD_TLS_DIR = '/var/run/ccmesh/etcd-tls';

/** The peer address replicas find each other by: the headless Service's name, on the mesh port. */
export function coordinatorPeersAddress(namespace: string): string {
  return `${INSTALL_NAMES.coordinator}.${namespace}.svc:${PORTS.coordinatorMesh}`;
}

/** The Coordinator's `--store …` and etcd TLS args. */
function storeArgs(values: InstallValues): string[] {
  const st = values.coordinator.store;
  if (st.type === 'file') return ['--store', `file:${COORDINATOR_STORE_DIR}`];
  const tls = st.etcdTlsSecret !== '' ? ['--etcd-ca', `${ETCD_TLS_DIR}/ca.crt`, '--etcd-cert', `${ETCD_TLS_DIR}/tls.crt`, '--etcd-key', `${ETCD_TLS_DIR}/tls.key`] : [];
  return ['--store', `etcd:${st.etcdEndpoints.join(',')}`, ...tls];
}

/** The address injected pods and the CLI use for the Coordinator's mesh API (defined once, in k8s/constants.ts). */
export { coordinatorMeshAddress } from '../constants.js';

/** Volume of the etcd client TLS Secret. */
const ETCD_TLS_VOLUME = 'etcd-tls';

/** One replica per node: preferred (scheduling still succeeds on fewer nodes) or required. */
function antiAffinity(mode: 'preferred' | 'required'): Record<string, unknown> {
  const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels('coordinator') } };
  return mode === 'required'
    ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
    : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] };
}

/** Coordinator objects, in apply order. */
export function buildCoordinator(values: InstallValues, namespace: string, version: string): (ServiceAccount | Service | StatefulSet | PodDisruptionBudget)[] {
  const name = INSTALL_NAMES.coordinator;
  const meta = (n: string): { name: string; namespace: string; labels: Record<string, string> } => ({ name: n, namespace, labels: objectLabels('coordinator', version) });
  const c = values.coordinator;
  const replicas = coordinatorReplicas(values);
  const etcd = c.store.type === 'etcd';
  const etcdTls = etcd && c.store.etcdTlsSecret !== '';

  const sa = new ServiceAccount({ metadata: meta(name), automountServiceAccountToken: false });

  const headless = new Service({
    metadata: meta(name),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels('coordinator'),
      ports: [
        { name: 'user', port: PORTS.coordinatorUser, targetPort: 'user', protocol: 'TCP' },
        { name: 'mesh', port: PORTS.coordinatorMesh, targetPort: 'mesh', protocol: 'TCP' },
        { name: 'metrics', port: PORTS.coordinatorMetrics, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  });

  const ready = new Service({
    metadata: meta(INSTALL_NAMES.coordinatorReady),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels('coordinator'),
      ports: [
        { name: 'user', port: PORTS.coordinatorUser, targetPort: 'user', protocol: 'TCP' },
        { name: 'mesh', port: PORTS.coordinatorMesh, targetPort: 'mesh', protocol: 'TCP' },
      ],
    },
  });

  const container = {
    ...baseContainer('coordinator', values, version, c.resources),
    args: [
      'coordinator',
      ...storeArgs(values),
      // Replicas recover the seed from each other through the headless Service (docs/operations.md).
      ...(replicas > 1 || etcd ? ['--peers', coordinatorPeersAddress(namespace)] : []),
      '--user-port', String(PORTS.coordinatorUser),
      '--mesh-port', String(PORTS.coordinatorMesh),
      '--metrics-port', String(PORTS.coordinatorMetrics),
    ],
    ports: [
      { name: 'user', containerPort: PORTS.coordinatorUser, protocol: 'TCP' as const },
      { name: 'mesh', containerPort: PORTS.coordinatorMesh, protocol: 'TCP' as const },
      { name: 'metrics', containerPort: PORTS.coordinatorMetrics, protocol: 'TCP' as const },
    ],
    // Startup may replay the store; allow 5 minutes before liveness takes over.
    startupProbe: httpProbe(ADMIN_HTTP_PATHS.startupProbe, 5, 60),
    livenessProbe: httpProbe(ADMIN_HTTP_PATHS.livenessProbe, 10, 3),
    readinessProbe: httpProbe(ADMIN_HTTP_PATHS.readinessProbe, 5, 3),
    volumeMounts: [
      ...(etcd ? [] : [{ name: STORE_VOLUME, mountPath: COORDINATOR_STORE_DIR }]),
      { name: 'tmp', mountPath: TMP_DIR },
      ...(etcdTls ? [{ name: ETCD_TLS_VOLUME, mountPath: ETCD_TLS_DIR, readOnly: true }] : []),
    ],
  };

  const sts = new StatefulSet({
    metadata: meta(name),
    spec: {
      serviceName: name,
      replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels('coordinator') },
      template: {
        metadata: {
          labels: podLabels(c, 'coordinator', version),
          // The injector must never inject the Coordinator itself.
          annotations: { ...c.podAnnotations, [ANNOTATIONS.podRole]: 'coordinator', ...prometheusAnnotations(values, PORTS.coordinatorMetrics) },
        },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          ...(c.runtimeClassName ? { runtimeClassName: c.runtimeClassName } : {}),
          ...schedulingFields(values, c),
          securityContext: podSecurityContext(),
          affinity: { ...structuredClone(c.affinity), podAntiAffinity: antiAffinity(c.podAntiAffinity) },
          containers: [container],
          volumes: [
            { name: 'tmp', emptyDir: { medium: 'Memory' } },
            // Group-readable by the pod's fsGroup only: the client key never needs to be world-readable.
            ...(etcdTls ? [{ name: ETCD_TLS_VOLUME, secret: { secretName: c.store.etcdTlsSecret, defaultMode: 0o440 } }] : []),
          ],
        },
      },
      // The file store's volume; etcd replicas keep nothing on disk. Stable labels only: volumeClaimTemplates can't be updated.
      ...(etcd ? {} : {
        volumeClaimTemplates: [
          {
            metadata: { name: STORE_VOLUME, labels: stableLabels('coordinator') },
            spec: {
              accessModes: ['ReadWriteOnce'],
              ...(c.store.storageClassName ? { storageClassName: c.store.storageClassName } : {}),
              resources: { requests: { storage: c.store.size } },
            },
          },
        ],
      }),
    },
  });

  const objects: (ServiceAccount | Service | StatefulSet | PodDisruptionBudget)[] = [sa, headless, ready, sts];
  if (c.podDisruptionBudget.enabled) {
    objects.push(new PodDisruptionBudget({
      metadata: meta(name),
      spec: { maxUnavailable: c.podDisruptionBudget.maxUnavailable, selector: { matchLabels: selectorLabels('coordinator') } },
    }));
  }
  for (const o of objects) o.validate();
  return objects;
}
