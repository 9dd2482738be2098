/**
 * The parts every ccmesh install pod shares: labels, the non-root / read-only / drop-all security contexts,
 * resources (no limits unless a value sets one), the image reference and the optional Prometheus annotations.
 * The Helm chart's `_helpers.tpl` renders the same parts; the chart tests compare them with the constants here.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';
import { ADMIN_HTTP_PATHS } from '../../lib/mesh-ports.js';
import type { InstallValues, Resources, Scheduling } from './values.js';

/** uid/gid the ccmesh containers run as (the conventional "nonroot" id of distroless images); never 0. */
export const NONROOT_ID = 65532;

/** The Service port the API server calls the webhook on (targets the injector's webhook container port). */
export const WEBHOOK_SERVICE_PORT = 443;

/** Value of `app.kubernetes.io/name` on every object. */
export const APP_NAME = 'ccmesh';

/** Mount point of the in-memory scratch directory (the root file system is read-only). */
export const TMP_DIR = '/tmp';

/** The install's two components. */
export type Component = 'coordinator' | 'injector';

/** Labels that select a component's pods; never change them (selectors are immutable). */
export function selectorLabels(component: Component): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/component': component };
}

/** `app.kubernetes.io/instance` of `install --print`: the release name the chart is conventionally installed as. */
export const INSTANCE = 'ccmesh';
/** `app.kubernetes.io/managed-by` of `install --print` (Helm writes its own, `Helm`). */
export const MANAGED_BY_CLI = 'ccmesh-install';

/**
 * Labels that never change for the life of an install: the selector labels and `part-of`. Used where Kubernetes
 * forbids updates (a StatefulSet's volumeClaimTemplates), so an upgrade never has to change them.
 */
export function stableLabels(component: Component): Record<string, string> {
  return { ...selectorLabels(component), 'app.kubernetes.io/part-of': APP_NAME };
}

/** Labels on every object of a component: the stable ones plus the standard instance, version, managed-by and chart. */
export function objectLabels(component: Component, version: string): Record<string, string> {
  return {
    ...stableLabels(component),
    'app.kubernetes.io/instance': INSTANCE,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/managed-by': MANAGED_BY_CLI,
    'helm.sh/chart': `${APP_NAME}-${version}`,
  };
}

/** `repository@digest` when a digest is set, else `repository:tag` (the tag defaulting to the ccmesh version). */
export function imageRef(values: InstallValues, version: string): string {
  if (values.image.digest !== '') return `${values.image.repository}@${values.image.digest}`;
  return `${values.image.repository}:${values.image.tag || version}`;
}

/** Pod labels: the value's extra labels first, the install's own after them (ours win on a clash). */
export function podLabels(s: Scheduling, component: Component, version: string): Record<string, string> {
  return { ...s.podLabels, ...objectLabels(component, version) };
}

/** The pod spec fields a component's scheduling values set, each only when given. */
export function schedulingFields(values: InstallValues, s: Scheduling): Record<string, unknown> {
  return {
    ...(values.imagePullSecrets.length > 0 ? { imagePullSecrets: values.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(s.priorityClassName !== '' ? { priorityClassName: s.priorityClassName } : {}),
    ...(Object.keys(s.nodeSelector).length > 0 ? { nodeSelector: { ...s.nodeSelector } } : {}),
    ...(s.tolerations.length > 0 ? { tolerations: structuredClone(s.tolerations) } : {}),
    ...(s.topologySpreadConstraints.length > 0 ? { topologySpreadConstraints: structuredClone(s.topologySpreadConstraints) } : {}),
  };
}

/** Pod-level security: non-root with a fixed id, RuntimeDefault seccomp, volumes group-owned by that id. */
export function podSecurityContext(): IPodSecurityContext {
  return { runAsNonRoot: true, runAsUser: NONROOT_ID, runAsGroup: NONROOT_ID, fsGroup: NONROOT_ID, seccompProfile: { type: 'RuntimeDefault' } };
}

/** Container-level security: no privilege escalation, read-only root, every capability dropped. */
export function containerSecurityContext(): ISecurityContext {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
}

/** Requests always; a limit only where a value sets one. */
export function resources(r: Resources): IResourceRequirements {
  const limits: Record<string, string> = {};
  if (r.limits.cpu) limits.cpu = r.limits.cpu;
  if (r.limits.memory) limits.memory = r.limits.memory;
  return { requests: { cpu: r.requests.cpu, memory: r.requests.memory }, ...(Object.keys(limits).length > 0 ? { limits } : {}) };
}

/** `prometheus.io/*` pod annotations when enabled, else nothing. */
export function prometheusAnnotations(values: InstallValues, metricsPort: number): Record<string, string> {
  if (!values.metrics.podAnnotations) return {};
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': ADMIN_HTTP_PATHS.metrics };
}

/** The container fields shared by the Coordinator and the injector. */
export function baseContainer(name: string, values: InstallValues, version: string, res: Resources): IContainer {
  return {
    name,
    image: imageRef(values, version),
    imagePullPolicy: values.image.pullPolicy,
    resources: resources(res),
    securityContext: containerSecurityContext(),
  };
}

/** An httpGet probe on the named metrics port. */
export function httpProbe(path: string, periodSeconds: number, failureThreshold: number): NonNullable<IContainer['readinessProbe']> {
  return { httpGet: { path, port: 'metrics' }, periodSeconds, failureThreshold };
}
