/**
 * The manifest's workload-secret id of a generated entry. It is also the path of the pod's SPIFFE ID, so it must
 * be a SPIFFE path: `/`-separated segments of letters, digits, `.`, `-`, `_`. The default names the resource
 * uniquely and stably: `<group>/<version>/<kind>/<namespace>/<name>`, with `core` for the core API group (whose
 * apiVersion has no group part, e.g. `v1`), because SPIFFE paths allow no empty segment.
 */

const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** Group name used for the core API group (`apiVersion: v1`). */
export const CORE_GROUP = 'core';

/** True when `id` is a SPIFFE path (the rule the manifest parser applies to workloadSecretId). */
export function isSpiffePath(id: string): boolean {
  return id.length > 0 && id.length <= 256 && id.split('/').every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..');
}

/** `<group>/<version>/<kind>/<namespace>/<name>` of a resource. */
export function defaultWorkloadSecretId(apiVersion: string, kind: string, namespace: string, name: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? CORE_GROUP : apiVersion.slice(0, slash);
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1);
  return `${group}/${version}/${kind}/${namespace}/${name}`;
}
