/**
 * The proxy sidecar's resources for one pod: the default requests, the install's memory limit, and the pod's
 * `ccmesh.dev/proxy-*` overrides on top. A request above its limit is refused here, naming the annotations, rather
 * than left for the API server to refuse the pod with a message about a container the user never wrote.
 */
import type { ProxyResourceOverrides } from '../annotations.js';
import { ANNOTATIONS } from '../constants.js';
import { parseQuantity } from '../quantity.js';
import { refuse } from './checks.js';
import { INJECTED_REQUESTS, type ProxyResources } from './parts.js';

/** Requests and limits of the proxy; throws K8S_INJECT_REFUSED when a request exceeds its limit. */
export function resolveProxyResources(o: ProxyResourceOverrides, installMemoryLimit: string | undefined, where: string, field: string): ProxyResources {
  const requests = { cpu: o.cpuRequest ?? INJECTED_REQUESTS.proxy.cpu, memory: o.memoryRequest ?? INJECTED_REQUESTS.proxy.memory };
  const memoryLimit = o.memoryLimit ?? installMemoryLimit;
  const limits = { ...(o.cpuLimit !== undefined ? { cpu: o.cpuLimit } : {}), ...(memoryLimit !== undefined ? { memory: memoryLimit } : {}) };
  const over = (kind: 'cpu' | 'memory', request: string, limit: string | undefined): boolean =>
    limit !== undefined && parseQuantity(request, kind)! > parseQuantity(limit, kind)!;
  if (over('cpu', requests.cpu, limits.cpu)) {
    throw refuse(where, field, `the proxy's CPU request ${requests.cpu}${o.cpuRequest === undefined ? ' (the default)' : ` (${ANNOTATIONS.proxyCpuRequest})`} is above its limit ${String(limits.cpu)} (${ANNOTATIONS.proxyCpuLimit}); a request must not exceed its limit`);
  }
  if (over('memory', requests.memory, limits.memory)) {
    const from = o.memoryLimit !== undefined ? ANNOTATIONS.proxyMemoryLimit : 'the install\'s proxy memory limit; set ' + ANNOTATIONS.proxyMemoryLimit + ' too';
    throw refuse(where, field, `the proxy's memory request ${requests.memory}${o.memoryRequest === undefined ? ' (the default)' : ` (${ANNOTATIONS.proxyMemoryRequest})`} is above its limit ${String(limits.memory)} (${from}); a request must not exceed its limit`);
  }
  return { requests, limits };
}
