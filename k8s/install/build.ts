/**
 * `ccmesh install --print`: every install object built as a typed, schema-validated Kubernetes object, then
 * rendered as one multi-document YAML stream for `kubectl apply -f -`. Pure: values, namespace and version in,
 * text out.
 */
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { stringify } from 'yaml';
import { ConfigError } from '../../lib/errors.js';
import { buildCoordinator } from './coordinator.js';
import { buildInjector } from './injector.js';
import { APP_NAME } from './pod-parts.js';
import { buildPodMonitors } from './pod-monitor.js';
import { buildServiceMonitors } from './service-monitor.js';
import type { InstallValues } from './values.js';

/** What the install is built from. */
export interface InstallInput {
  readonly values: InstallValues;
  readonly namespace: string;
  /** ccmesh version: the default image tag. */
  readonly version: string;
}

/** A DNS-1123 label, what a namespace name must be. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The install objects as plain JSON data, in apply order (namespace and RBAC before the workloads using them). */
export function buildInstall(input: InstallInput): Record<string, unknown>[] {
  const { values, namespace, version } = input;
  if (!NAMESPACE_NAME.test(namespace)) {
    throw new ConfigError('install namespace', [{ field: '--namespace', value: namespace, expected: 'a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)' }]);
  }
  const ns = new Namespace({
    metadata: {
      name: namespace,
      // Every install pod meets the "restricted" Pod Security Standard; enforce it so a drift is refused.
      labels: { 'app.kubernetes.io/part-of': APP_NAME, 'pod-security.kubernetes.io/enforce': 'restricted' },
    },
  });
  ns.validate();
  let coordinator: object[];
  let injector: object[];
  try {
    coordinator = buildCoordinator(values, namespace, version);
    injector = buildInjector(values, namespace, version);
  } catch (err) {
    // The pass-through values (tolerations, affinity, topology spread) are checked only by the Kubernetes schema.
    throw new ConfigError('install values', [{ field: 'coordinator/injector pod values', value: '(see the message)', expected: `values the Kubernetes schema accepts: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  const byKind = (kind: string): object[] => [...coordinator, ...injector].filter((o) => (o as { kind?: string }).kind === kind);
  const ordered: object[] = [
    ns,
    ...byKind('ServiceAccount'),
    ...byKind('ClusterRole'),
    ...byKind('ClusterRoleBinding'),
    ...byKind('Role'),
    ...byKind('RoleBinding'),
    ...byKind('Service'),
    ...byKind('StatefulSet'),
    ...byKind('PodDisruptionBudget'),
    ...byKind('Deployment'),
    ...byKind('MutatingWebhookConfiguration'),
    ...buildServiceMonitors(values, namespace, version),
    ...buildPodMonitors(values, namespace, version),
  ];
  // toJSON drops the models' class identity and undefined fields, leaving exactly what is printed.
  return ordered.map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
}

/** Renders objects as a YAML stream: documents separated by `---`, keys in the order the builders set them. */
export function renderInstall(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
}
