/**
 * The injector's objects: ServiceAccount, least RBAC (get + patch on its own MutatingWebhookConfiguration only,
 * to set the caBundle of the serving CA it generates), the Deployment, its Service and the
 * MutatingWebhookConfiguration. Every object is validated against the Kubernetes schema as it is built.
 *
 * With a shared certificate — `injector.tlsSecret` (supplied, `--tls-dir`, re-read on rotation) or, by default,
 * `injector.caSecret` (self-managed, `--ca-secret`: the first replica makes it, the others read it, and they rotate its
 * CA together) — every replica serves leaves of one CA, so `injector.replicas` run behind a PodDisruptionBudget and update one at a time without a
 * gap. With neither: one replica, recreated on update — each injector then generates its own in-memory CA and
 * patches the caBundle, so two running replicas would overwrite each other's CA.
 */
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ADMIN_HTTP_PATHS, PORTS } from '../../lib/mesh-ports.js';
import { INJECTION_NAMESPACE_LABEL, INSTALL_NAMES } from '../constants.js';
import { coordinatorMeshAddress } from './coordinator.js';
import { APP_NAME, baseContainer, httpProbe, imageRef, objectLabels, podLabels, podSecurityContext, prometheusAnnotations, schedulingFields, selectorLabels, TMP_DIR, WEBHOOK_SERVICE_PORT } from './pod-parts.js';
import type { InstallValues } from './values.js';

/** Namespaces the webhook never sees besides the install namespace. */
export const ALWAYS_EXCLUDED_NAMESPACES = Object.freeze(['kube-system']);

/** Where `injector.tlsSecret` is mounted (`--tls-dir`). */
export const INJECTOR_TLS_DIR = '/var/run/ccmesh/webhook-tls';

/** Injector objects, in apply order. */
export function buildInjector(values: InstallValues, namespace: string, version: string): (ServiceAccount | ClusterRole | ClusterRoleBinding | Role | RoleBinding | Service | Deployment | PodDisruptionBudget | MutatingWebhookConfiguration)[] {
  const name = INSTALL_NAMES.injector;
  const labels = objectLabels('injector', version);
  const inj = values.injector;
  const tls = inj.tlsSecret !== '';
  /** The shared self-managed CA: only without a supplied certificate. */
  const caSecret = !tls && inj.caSecret !== '';
  const shared = tls || caSecret;

  const sa = new ServiceAccount({ metadata: { name, namespace, labels } });

  const role = new ClusterRole({
    metadata: { name, labels },
    rules: [
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [INSTALL_NAMES.webhookConfiguration],
        verbs: ['get', 'patch'],
      },
    ],
  });

  const binding = new ClusterRoleBinding({
    metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });

  // The shared CA Secret: read and replace it by name (replace: the replicas rotate its CA, each write at the
  // resourceVersion read); create it (RBAC can't limit create to a name, so: Secrets of this namespace, which holds
  // only ccmesh's). Nothing else — no list, watch, patch or delete.
  const secretRbac = caSecret
    ? [
      new Role({
        metadata: { name, namespace, labels },
        rules: [
          { apiGroups: [''], resources: ['secrets'], resourceNames: [inj.caSecret], verbs: ['get', 'update'] },
          { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        ],
      }),
      new RoleBinding({
        metadata: { name, namespace, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      }),
    ]
    : [];

  const service = new Service({
    metadata: { name, namespace, labels },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels('injector'),
      ports: [
        { name: 'https', port: WEBHOOK_SERVICE_PORT, targetPort: 'webhook', protocol: 'TCP' },
        { name: 'metrics', port: PORTS.injectorMetrics, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  });

  const container = {
    ...baseContainer('injector', values, version, inj.resources),
    args: [
      'injector',
      '--port', String(PORTS.injectorWebhook),
      '--service', name,
      '--namespace', namespace,
      '--webhook-config', INSTALL_NAMES.webhookConfiguration,
      '--image', imageRef(values, version),
      '--coordinator', coordinatorMeshAddress(namespace),
      // All or none (parseInstallValues): pods verify the Coordinator's policy, its launch measurement and the owner of
      // the mesh it serves.
      ...(inj.coordinatorPolicy !== ''
        ? ['--coordinator-policy', inj.coordinatorPolicy, '--mesh-owner', inj.meshOwner, ...inj.coordinatorMeasurements.flatMap((m) => ['--coordinator-measurement', m])]
        : []),
      '--tee', inj.tee,
      ...(inj.proxyMemoryLimit !== '' ? ['--proxy-memory-limit', inj.proxyMemoryLimit] : []),
      ...(values.metrics.sidecarPodAnnotations ? ['--prometheus-annotations'] : []),
      ...(tls ? ['--tls-dir', INJECTOR_TLS_DIR] : []),
      ...(caSecret ? ['--ca-secret', inj.caSecret] : []),
      '--metrics-port', String(PORTS.injectorMetrics),
    ],
    ports: [
      { name: 'webhook', containerPort: PORTS.injectorWebhook, protocol: 'TCP' as const },
      { name: 'metrics', containerPort: PORTS.injectorMetrics, protocol: 'TCP' as const },
    ],
    livenessProbe: httpProbe(ADMIN_HTTP_PATHS.livenessProbe, 10, 3),
    // Ready only once the caBundle patch succeeded, so the Service never routes to an untrusted serving cert.
    readinessProbe: httpProbe(ADMIN_HTTP_PATHS.readinessProbe, 5, 3),
    volumeMounts: [{ name: 'tmp', mountPath: TMP_DIR }, ...(tls ? [{ name: 'webhook-tls', mountPath: INJECTOR_TLS_DIR, readOnly: true }] : [])],
  };

  const annotations = { ...inj.podAnnotations, ...prometheusAnnotations(values, PORTS.injectorMetrics) };
  const deployment = new Deployment({
    metadata: { name, namespace, labels },
    spec: {
      replicas: inj.replicas,
      // A shared certificate lets a new pod serve before an old one stops; an in-memory CA can't overlap (see above).
      strategy: shared ? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } : { type: 'Recreate' },
      selector: { matchLabels: selectorLabels('injector') },
      template: {
        metadata: { labels: podLabels(inj, 'injector', version), ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
        spec: {
          serviceAccountName: name,
          ...schedulingFields(values, inj),
          securityContext: podSecurityContext(),
          ...(Object.keys(inj.affinity).length > 0 ? { affinity: structuredClone(inj.affinity) } : {}),
          containers: [container],
          volumes: [
            { name: 'tmp', emptyDir: { medium: 'Memory' } },
            ...(tls ? [{ name: 'webhook-tls', secret: { secretName: inj.tlsSecret, defaultMode: 0o440 } }] : []),
          ],
        },
      },
    },
  });

  const pdb = inj.replicas > 1 && inj.podDisruptionBudget.enabled
    ? [new PodDisruptionBudget({ metadata: { name, namespace, labels }, spec: { maxUnavailable: inj.podDisruptionBudget.maxUnavailable, selector: { matchLabels: selectorLabels('injector') } } })]
    : [];

  const webhook = new MutatingWebhookConfiguration({
    metadata: { name: INSTALL_NAMES.webhookConfiguration, labels },
    webhooks: [
      {
        name: INSTALL_NAMES.webhookName,
        // caBundle is left out on purpose: the injector patches in the CA it generated at startup.
        clientConfig: { service: { name, namespace, path: INSTALL_NAMES.webhookPath, port: WEBHOOK_SERVICE_PORT } },
        // Pods only: every controller (Deployment, StatefulSet, Job, …) creates Pods, so this sees them all once.
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        // SECURITY: ccmesh's own pods are never sent to the webhook, whatever namespace they run in: an injector
        // that needs itself to admit its replacement would deadlock (the install namespace is excluded below too).
        objectSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: [APP_NAME] }] },
        namespaceSelector: {
          matchExpressions: [
            { key: INJECTION_NAMESPACE_LABEL, operator: 'In', values: ['enabled'] },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set([...ALWAYS_EXCLUDED_NAMESPACES, namespace])] },
          ],
        },
        failurePolicy: inj.failurePolicy,
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: inj.reinvocationPolicy,
        timeoutSeconds: inj.timeoutSeconds,
      },
    ],
  });

  const objects = [sa, role, binding, ...secretRbac, service, deployment, ...pdb, webhook];
  for (const o of objects) o.validate();
  return objects;
}
