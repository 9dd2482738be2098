/**
 * prometheus-operator's PodMonitor (`monitoring.coreos.com/v1`) for the injected sidecars: every pod in every
 * namespace whose container declares the sidecar's admin port (`ccmesh-admin`) is scraped on `/metrics`. Only
 * injected pods carry that port name, so the selector itself can stay empty. Like the ServiceMonitor, a small typed
 * interface with its own structural check (kubernetes-models has no CRDs).
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { SIDECAR_ADMIN_PATHS } from '../../lib/mesh-ports.js';
import { ADMIN_PORT_NAME } from '../inject/parts.js';
import { objectLabels } from './pod-parts.js';
import { INTERVAL, NAME } from './service-monitor.js';
import type { InstallValues } from './values.js';

/** Name of the sidecars' PodMonitor. */
export const SIDECAR_POD_MONITOR = 'ccmesh-sidecars';

/** The subset of a PodMonitor that ccmesh emits. */
export interface PodMonitor {
  readonly apiVersion: 'monitoring.coreos.com/v1';
  readonly kind: 'PodMonitor';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly selector: Readonly<Record<string, never>>;
    readonly namespaceSelector: { readonly any: true };
    readonly podMetricsEndpoints: readonly { readonly port: string; readonly path: string; readonly interval: string; readonly scheme: 'http' }[];
  };
}

/** Structural check; throws on the first problem (a builder bug, not user input). */
export function validatePodMonitor(pm: PodMonitor): void {
  const problems: string[] = [];
  if (pm.apiVersion !== 'monitoring.coreos.com/v1' || pm.kind !== 'PodMonitor') problems.push('apiVersion/kind');
  if (!NAME.test(pm.metadata.name)) problems.push(`metadata.name ${JSON.stringify(pm.metadata.name)}`);
  if (!NAME.test(pm.metadata.namespace)) problems.push(`metadata.namespace ${JSON.stringify(pm.metadata.namespace)}`);
  if (pm.spec.namespaceSelector.any !== true) problems.push('spec.namespaceSelector.any must be true (injected pods live in any namespace)');
  if (pm.spec.podMetricsEndpoints.length === 0) problems.push('spec.podMetricsEndpoints is empty');
  for (const [i, e] of pm.spec.podMetricsEndpoints.entries()) {
    // SECURITY-adjacent: only the named admin port, so no app port of a meshed pod is ever scraped by this monitor.
    if (e.port !== ADMIN_PORT_NAME) problems.push(`spec.podMetricsEndpoints[${i}].port is not ${ADMIN_PORT_NAME}`);
    if (!e.path.startsWith('/')) problems.push(`spec.podMetricsEndpoints[${i}].path`);
    if (!INTERVAL.test(e.interval)) problems.push(`spec.podMetricsEndpoints[${i}].interval`);
  }
  if (problems.length > 0) throw new CcmeshError(ErrorCode.INTERNAL, `invalid PodMonitor ${pm.metadata.name}: ${problems.join('; ')}`);
}

/** The sidecars' PodMonitor when enabled, else nothing. */
export function buildPodMonitors(values: InstallValues, namespace: string, version: string): PodMonitor[] {
  const pm = values.metrics.podMonitor;
  if (!pm.enabled) return [];
  const out: PodMonitor = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: SIDECAR_POD_MONITOR, namespace, labels: { ...pm.labels, ...objectLabels('injector', version) } },
    spec: {
      selector: {},
      namespaceSelector: { any: true },
      podMetricsEndpoints: [{ port: ADMIN_PORT_NAME, path: SIDECAR_ADMIN_PATHS.metrics, interval: pm.interval, scheme: 'http' }],
    },
  };
  validatePodMonitor(out);
  return [out];
}
