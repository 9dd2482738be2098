/**
 * prometheus-operator's ServiceMonitor (`monitoring.coreos.com/v1`). kubernetes-models has no CRDs, so this is a
 * small typed interface holding only the fields ccmesh sets, with its own structural check.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ADMIN_HTTP_PATHS } from '../../lib/mesh-ports.js';
import { INSTALL_NAMES } from '../constants.js';
import { type Component, objectLabels, selectorLabels } from './pod-parts.js';
import type { InstallValues } from './values.js';

/** The subset of a ServiceMonitor that ccmesh emits. */
export interface ServiceMonitor {
  readonly apiVersion: 'monitoring.coreos.com/v1';
  readonly kind: 'ServiceMonitor';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
    readonly namespaceSelector: { readonly matchNames: readonly string[] };
    readonly endpoints: readonly { readonly port: string; readonly path: string; readonly interval: string; readonly scheme: 'http' }[];
  };
}

/** A DNS-1123 name. */
export const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Prometheus duration. */
export const INTERVAL = /^[0-9]+(ms|s|m|h)$/;

/** Structural check of the CRD's required shape; throws on the first problem (a builder bug, not user input). */
export function validateServiceMonitor(sm: ServiceMonitor): void {
  const problems: string[] = [];
  if (sm.apiVersion !== 'monitoring.coreos.com/v1' || sm.kind !== 'ServiceMonitor') problems.push('apiVersion/kind');
  if (!NAME.test(sm.metadata.name)) problems.push(`metadata.name ${JSON.stringify(sm.metadata.name)}`);
  if (!NAME.test(sm.metadata.namespace)) problems.push(`metadata.namespace ${JSON.stringify(sm.metadata.namespace)}`);
  if (Object.keys(sm.spec.selector.matchLabels).length === 0) problems.push('spec.selector.matchLabels is empty (would select every Service)');
  if (sm.spec.namespaceSelector.matchNames.length === 0) problems.push('spec.namespaceSelector.matchNames is empty');
  if (sm.spec.endpoints.length === 0) problems.push('spec.endpoints is empty');
  for (const [i, e] of sm.spec.endpoints.entries()) {
    if (!NAME.test(e.port)) problems.push(`spec.endpoints[${i}].port`);
    if (!e.path.startsWith('/')) problems.push(`spec.endpoints[${i}].path`);
    if (!INTERVAL.test(e.interval)) problems.push(`spec.endpoints[${i}].interval`);
  }
  if (problems.length > 0) throw new CcmeshError(ErrorCode.INTERNAL, `invalid ServiceMonitor ${sm.metadata.name}: ${problems.join('; ')}`);
}

/** One ServiceMonitor per component, scraping the Services' `metrics` port; nothing when disabled. */
export function buildServiceMonitors(values: InstallValues, namespace: string, version: string): ServiceMonitor[] {
  const sm = values.metrics.serviceMonitor;
  if (!sm.enabled) return [];
  const one = (component: Component, name: string): ServiceMonitor => ({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name, namespace, labels: { ...sm.labels, ...objectLabels(component, version) } },
    spec: {
      selector: { matchLabels: selectorLabels(component) },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: 'metrics', path: ADMIN_HTTP_PATHS.metrics, interval: sm.interval, scheme: 'http' }],
    },
  });
  const out = [one('coordinator', INSTALL_NAMES.coordinator), one('injector', INSTALL_NAMES.injector)];
  for (const m of out) validateServiceMonitor(m);
  return out;
}
