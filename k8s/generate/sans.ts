/**
 * DNS SANs of a generated entry. A pod is reached by the names of the Services that select it, so its
 * certificate names: the resource's own name (when it is a single label) and every selecting Service found in the
 * input, each in the four
 * spellings a client in the cluster may use (`n`, `n.ns`, `n.ns.svc`, `n.ns.svc.<cluster domain>`). A
 * StatefulSet's pods are also reached one by one through its governing headless Service (`spec.serviceName`):
 * `<pod>.<service>.<ns>.svc…`, covered by the wildcard `*.<service>.<ns>.svc` and `*.<service>.<ns>.svc.<domain>`.
 */

/** Default Kubernetes cluster domain. */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** What the SANs of one resource are built from. */
export interface SanInput {
  readonly name: string;
  readonly namespace: string;
  readonly clusterDomain: string;
  /** Names of Services (same namespace) whose selector matches the pod template's labels. */
  readonly services: readonly string[];
  /** A StatefulSet's governing Service name. */
  readonly headlessService?: string;
}

function spellings(name: string, ns: string, domain: string): string[] {
  return [name, `${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.${domain}`];
}

/** The SANs, lowercase, without duplicates, in a stable order (resource name first, then Services by name). */
export function buildSans(input: SanInput): string[] {
  const out: string[] = [];
  const add = (s: string): void => {
    const v = s.toLowerCase();
    if (!out.includes(v)) out.push(v);
  };
  const { namespace: ns, clusterDomain: domain } = input;
  // SECURITY: a resource name may contain dots (a DNS subdomain), and `db.shop.svc` in namespace `evil` would spell
  // the Service name of `db` in `shop`. Service names are single labels; a dotted resource name adds no SANs.
  if (!input.name.includes('.')) for (const s of spellings(input.name, ns, domain)) add(s);
  const services = [...new Set([...input.services, ...(input.headlessService ? [input.headlessService] : [])])].sort();
  for (const svc of services) for (const s of spellings(svc, ns, domain)) add(s);
  if (input.headlessService) {
    add(`*.${input.headlessService}.${ns}.svc`);
    add(`*.${input.headlessService}.${ns}.svc.${domain}`);
  }
  return out;
}

/** True when every key/value of `selector` is among `labels` (an empty selector selects nothing here). */
export function selectorMatches(selector: Readonly<Record<string, unknown>>, labels: Readonly<Record<string, unknown>>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => typeof v === 'string' && labels[k] === v);
}
