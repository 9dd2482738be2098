/**
 * The description of every install value ({@link VALUES_SPEC}): its type, its constraints, the words an error uses
 * for them, and the sentence the chart README shows. `values-schema.ts` renders it as the chart's
 * `values.schema.json`, the one JSON Schema both Helm and `ccmesh install --values` validate with.
 */

/** Description of one value: its type, constraints and the sentence the chart README shows. */
export type ValueSpec =
  /** `expected`: what `pattern` means in words (for a list: what each item must be), for error messages. */
  | ({ readonly type: 'string'; readonly doc: string } & PatternWords)
  | { readonly type: 'integer'; readonly doc: string; readonly minimum: number; readonly maximum: number }
  | { readonly type: 'boolean'; readonly doc: string }
  | { readonly type: 'enum'; readonly doc: string; readonly values: readonly string[] }
  | { readonly type: 'stringMap'; readonly doc: string }
  | ({ readonly type: 'stringList'; readonly doc: string } & PatternWords)
  /** Kubernetes objects passed through as given (tolerations, topology spread): a list of maps; the pod schema checks them. */
  | { readonly type: 'mapList'; readonly doc: string }
  /** A Kubernetes object passed through as given, limited to `keys` (affinity). */
  | { readonly type: 'map'; readonly doc: string; readonly keys: readonly string[] }
  | { readonly type: 'object'; readonly doc: string; readonly fields: Readonly<Record<string, ValueSpec>> };

/**
 * A string pattern and what it means in words: an error never shows a regular expression. The patterns use only
 * what JavaScript's and Go's (RE2, Helm's) regular expressions read alike: ASCII classes, no `\s`, `\d` or `\w`
 * (which differ on non-ASCII), no look-around or back-references (RE2 has none).
 */
export type PatternWords = { readonly pattern?: undefined; readonly expected?: undefined } | { readonly pattern: string; readonly expected: string };

/** A Kubernetes resource quantity (`100m`, `1Gi`), or empty where "unset" is allowed. */
const QUANTITY_OR_EMPTY = { pattern: '^([0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?)?$', expected: 'a quantity such as 500m, 2 or 1Gi (digits, an optional fraction and one of m, k, M, G, T, Ki, Mi, Gi, Ti), or empty' } as const;
const QUANTITY = { pattern: '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$', expected: 'a quantity such as 500m, 2 or 1Gi (digits, an optional fraction and one of m, k, M, G, T, Ki, Mi, Gi, Ti)' } as const;
/** A DNS-1123 label (RuntimeClass, StorageClass), or empty. */
const DNS_NAME_OR_EMPTY = { pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$', expected: 'a name of lowercase letters, digits and "-" that starts and ends with a letter or digit, or empty' } as const;
/** An etcd client URL as `--store etcd:` takes it: scheme, host (or [IPv6]) and port, nothing after. */
const ETCD_ENDPOINT = { pattern: '^https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$', expected: 'an etcd client URL, https://HOST:PORT (or http://HOST:PORT)' } as const;
/** A SHA-256 pin in lowercase hex (what `ccmesh injector` and the initializer accept), or empty for "not pinned". */
export const PIN_OR_EMPTY = '^([0-9a-f]{64})?$';
/** A launch measurement (SEV-SNP MEASUREMENT or TDX MRTD, 48 bytes) in lowercase hex, as `inject` takes it. */
export const MEASUREMENT = '^[0-9a-f]{96}$';
/** A DNS-1123 subdomain name (Secrets, PriorityClasses), or empty. */
const SUBDOMAIN_OR_EMPTY = { pattern: '^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$', expected: 'a name of lowercase letters, digits, "-" and "." that starts and ends with a letter or digit (at most 253 characters), or empty' } as const;
/** A memory quantity (no milli suffix), or empty. */
const MEMORY_OR_EMPTY = { pattern: '^([0-9]+(\\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?)?$', expected: 'a memory quantity such as 256Mi or 1Gi (digits, an optional fraction and one of k, M, G, T, Ki, Mi, Gi, Ti; not m), or empty' } as const;
/** A scrape interval as Prometheus reads one. */
const INTERVAL = { pattern: '^[0-9]+(ms|s|m|h)$', expected: 'a duration such as 30s, 1m or 500ms (digits and one of ms, s, m, h)' } as const;
/**
 * An image repository: printable ASCII without spaces, `:` or `@` (no tag, no digest), except a registry port
 * (`registry:5000/ccmesh`). Written as ASCII ranges, not `[^\\s:@]`: JavaScript's `\\s` also matches non-ASCII
 * spaces, Go's does not, and Helm and the CLI must read the pattern alike.
 */
const REPOSITORY = { pattern: '^[!-9;-?A-~]+(:[0-9]+)?[!-9;-?A-~]*$', expected: 'an image repository such as ghcr.io/ccmesh/ccmesh or registry:5000/ccmesh (printable ASCII without spaces, "@" or a tag)' } as const;

/** The scheduling and pod metadata values every component has, in README order. */
function schedulingSpec(who: string, affinityKeys: readonly string[]): Record<string, ValueSpec> {
  return {
    nodeSelector: { type: 'stringMap', doc: `nodeSelector of the ${who} pods.` },
    tolerations: { type: 'mapList', doc: `tolerations of the ${who} pods (Kubernetes Toleration objects).` },
    affinity: { type: 'map', doc: `affinity of the ${who} pods: ${affinityKeys.map((k) => `\`${k}\``).join(' and ')} (Kubernetes objects).`, keys: affinityKeys },
    topologySpreadConstraints: { type: 'mapList', doc: `topologySpreadConstraints of the ${who} pods (their labelSelector must be given; use the pods' \`app.kubernetes.io/name\` and \`app.kubernetes.io/component\` labels).` },
    priorityClassName: { type: 'string', doc: `PriorityClass of the ${who} pods; empty: none.`, ...SUBDOMAIN_OR_EMPTY },
    podLabels: { type: 'stringMap', doc: `Extra labels on the ${who} pods (the chart's own labels win).` },
    podAnnotations: { type: 'stringMap', doc: `Extra annotations on the ${who} pods (the chart's own annotations win).` },
  };
}

function resourcesSpec(who: string): ValueSpec {
  const q = (what: string, required: boolean): ValueSpec => ({ type: 'string', doc: what, ...(required ? QUANTITY : QUANTITY_OR_EMPTY) });
  return {
    type: 'object',
    doc: `Resources of the ${who} container.`,
    fields: {
      requests: { type: 'object', doc: 'Requests.', fields: { cpu: q('CPU request.', true), memory: q('Memory request.', true) } },
      limits: { type: 'object', doc: 'Limits; empty means no limit.', fields: { cpu: q('CPU limit (empty: none).', false), memory: q('Memory limit (empty: none).', false) } },
    },
  };
}

/** Every value, its type and its README sentence. */
export const VALUES_SPEC: ValueSpec = {
  type: 'object',
  doc: 'Install values.',
  fields: {
    image: {
      type: 'object',
      doc: 'The ccmesh image used by the Coordinator, the injector and the injected containers.',
      fields: {
        repository: { type: 'string', doc: 'Image repository.', ...REPOSITORY },
        tag: { type: 'string', doc: 'Image tag; empty means the ccmesh version (the chart\'s appVersion).', pattern: '^[A-Za-z0-9_.-]{0,128}$', expected: 'an image tag of at most 128 letters, digits, "_", "." and "-", or empty' },
        digest: { type: 'string', doc: 'Image digest (`sha256:` and 64 hex digits): every ccmesh container, injected ones included, is pulled as `repository@digest` (the tag is then ignored); empty: by tag.', pattern: '^(sha256:[0-9a-f]{64})?$', expected: '"sha256:" and 64 lowercase hex digits, or empty' },
        pullPolicy: { type: 'enum', doc: 'imagePullPolicy of every ccmesh container.', values: ['Always', 'IfNotPresent', 'Never'] },
      },
    },
    imagePullSecrets: { type: 'stringList', doc: 'Names of image pull Secrets in the install namespace, for the Coordinator and injector pods (injected pods use their own namespace\'s).', pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$', expected: 'a Secret name (lowercase letters, digits, "-" and ".", starting and ending with a letter or digit)' },
    coordinator: {
      type: 'object',
      doc: 'The Coordinator StatefulSet.',
      fields: {
        replicas: { type: 'integer', doc: 'Coordinator replicas; 0: automatic (1 with the file store, 3 with etcd). The file store takes exactly 1; more need `store.type: etcd`.', minimum: 0, maximum: 7 },
        runtimeClassName: { type: 'string', doc: 'RuntimeClass of the Coordinator pod (its TEE, e.g. kata-qemu-snp or kata-qemu-tdx); empty: none (development only).', ...DNS_NAME_OR_EMPTY },
        store: {
          type: 'object',
          doc: 'Where the Coordinator keeps its state.',
          fields: {
            type: { type: 'enum', doc: '`file` (embedded store on a PersistentVolumeClaim, one replica) or `etcd` (an etcd cluster shared by the replicas; see docs/operations.md).', values: ['file', 'etcd'] },
            size: { type: 'string', doc: 'Size of the file store\'s PersistentVolumeClaim.', ...QUANTITY },
            storageClassName: { type: 'string', doc: 'StorageClass of the PersistentVolumeClaim; empty: the cluster default.', ...DNS_NAME_OR_EMPTY },
            etcdEndpoints: { type: 'stringList', doc: 'etcd client URLs for `type: etcd` (`https://HOST:PORT`, one scheme for all; `http://` only for development).', ...ETCD_ENDPOINT },
            etcdTlsSecret: { type: 'string', doc: 'Secret with `ca.crt` (etcd\'s CA), `tls.crt` and `tls.key` (the client certificate) for `https://` endpoints, passed as `--etcd-ca`, `--etcd-cert`, `--etcd-key`; empty: the system roots and no client certificate.', ...SUBDOMAIN_OR_EMPTY },
          },
        },
        resources: resourcesSpec('Coordinator'),
        ...schedulingSpec('Coordinator', ['nodeAffinity', 'podAffinity']),
        podAntiAffinity: { type: 'enum', doc: 'Spread of the replicas over nodes: `preferred` (soft) or `required` (at most one replica per node).', values: ['preferred', 'required'] },
        podDisruptionBudget: {
          type: 'object',
          doc: 'PodDisruptionBudget of the Coordinator.',
          fields: {
            enabled: { type: 'boolean', doc: 'Create the PodDisruptionBudget.' },
            maxUnavailable: { type: 'integer', doc: 'maxUnavailable of the PodDisruptionBudget.', minimum: 1, maximum: 7 },
          },
        },
      },
    },
    injector: {
      type: 'object',
      doc: 'The sidecar-injection webhook.',
      fields: {
        replicas: { type: 'integer', doc: 'Injector replicas; more than 1 needs a shared certificate (`tlsSecret` or `caSecret`).', minimum: 1, maximum: 7 },
        tlsSecret: { type: 'string', doc: 'Secret with `tls.crt`, `tls.key` and `ca.crt` for the webhook (e.g. a cert-manager Certificate for the injector Service), mounted and passed as `--tls-dir` (re-read on rotation; the injector puts `ca.crt` into the caBundle). Empty: `caSecret`.', ...SUBDOMAIN_OR_EMPTY },
        caSecret: { type: 'string', doc: 'Without `tlsSecret`: the Secret in the install namespace where the injectors keep the CA and certificate they make (`--ca-secret`; the first creates it, the others read it, and they rotate its CA together; RBAC: get and update on it, create on Secrets). Empty: each start makes an in-memory CA (one replica, Recreate).', ...SUBDOMAIN_OR_EMPTY },
        proxyMemoryLimit: { type: 'string', doc: 'Memory limit of every injected proxy sidecar (at least its 128Mi request, e.g. 256Mi); empty: none (see docs/kubernetes.md, "Resources"). A pod\'s `ccmesh.dev/proxy-memory-limit` overrides it.', ...MEMORY_OR_EMPTY },
        podDisruptionBudget: {
          type: 'object',
          doc: 'PodDisruptionBudget of the injector (rendered with more than 1 replica).',
          fields: {
            enabled: { type: 'boolean', doc: 'Create the PodDisruptionBudget.' },
            maxUnavailable: { type: 'integer', doc: 'maxUnavailable of the PodDisruptionBudget.', minimum: 1, maximum: 7 },
          },
        },
        failurePolicy: { type: 'enum', doc: 'Webhook failurePolicy: `Fail` refuses pods in opted-in namespaces while the injector is down; `Ignore` admits them un-injected.', values: ['Fail', 'Ignore'] },
        timeoutSeconds: { type: 'integer', doc: 'Webhook timeoutSeconds.', minimum: 1, maximum: 30 },
        reinvocationPolicy: { type: 'enum', doc: 'Webhook reinvocationPolicy.', values: ['Never', 'IfNeeded'] },
        tee: { type: 'enum', doc: 'Evidence source the injected initializer uses (`--tee`).', values: ['auto', 'configfs-tsm', 'sev-guest', 'tdx-guest'] },
        coordinatorPolicy: {
          type: 'string',
          doc: 'Policy hash of the Coordinator pod (the workspace manifest\'s `policies` key with role `coordinator`): injected pods verify the Coordinator\'s evidence against it (`--coordinator-policy`). Set together with `meshOwner` and `coordinatorMeasurements`; empty: pods do not verify the Coordinator.',
          pattern: PIN_OR_EMPTY,
          expected: '64 lowercase hex digits (the Coordinator\'s policy hash), or empty',
        },
        meshOwner: {
          type: 'string',
          doc: 'Mesh owner pin (the workspace\'s `mesh-owner` file): injected pods refuse a Coordinator that serves another owner (`--mesh-owner`). Set together with `coordinatorPolicy`; empty: not pinned.',
          pattern: PIN_OR_EMPTY,
          expected: '64 lowercase hex digits (the mesh owner pin), or empty',
        },
        coordinatorMeasurements: {
          type: 'stringList',
          doc: 'Launch measurements (SEV-SNP MEASUREMENT or TDX MRTD) injected pods accept from the Coordinator (`--coordinator-measurement`, any of them). Set together with `coordinatorPolicy`; empty: not pinned.',
          pattern: MEASUREMENT,
          expected: '96 lowercase hex digits (a launch measurement)',
        },
        resources: resourcesSpec('injector'),
        ...schedulingSpec('injector', ['nodeAffinity', 'podAffinity', 'podAntiAffinity']),
      },
    },
    metrics: {
      type: 'object',
      doc: 'Prometheus integration.',
      fields: {
        podAnnotations: { type: 'boolean', doc: 'Add `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path` annotations to the pods.' },
        sidecarPodAnnotations: { type: 'boolean', doc: 'The injector adds the same annotations, for the sidecar admin port, to injected pods without `prometheus.io/*` annotations of their own (`--prometheus-annotations`).' },
        serviceMonitor: {
          type: 'object',
          doc: 'prometheus-operator ServiceMonitors.',
          fields: {
            enabled: { type: 'boolean', doc: 'Create ServiceMonitors (needs the monitoring.coreos.com/v1 CRD).' },
            interval: { type: 'string', doc: 'Scrape interval.', ...INTERVAL },
            labels: { type: 'stringMap', doc: 'Extra labels on the ServiceMonitors (e.g. the `release` label your Prometheus selects).' },
          },
        },
        podMonitor: {
          type: 'object',
          doc: 'A prometheus-operator PodMonitor for the injected sidecars\' admin port (`ccmesh-admin`, `/metrics`) in every namespace.',
          fields: {
            enabled: { type: 'boolean', doc: 'Create the PodMonitor (needs the monitoring.coreos.com/v1 CRD).' },
            interval: { type: 'string', doc: 'Scrape interval.', ...INTERVAL },
            labels: { type: 'stringMap', doc: 'Extra labels on the PodMonitor.' },
          },
        },
      },
    },
  },
};

/** Human words for what a value must be (never a regular expression), used in issues. */
export function describeSpec(spec: ValueSpec): string {
  switch (spec.type) {
    case 'string':
      return spec.expected ?? 'a string';
    case 'integer':
      return `an integer from ${spec.minimum} to ${spec.maximum}`;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'stringMap':
      return 'a map of string keys to string values';
    case 'stringList':
      return spec.expected !== undefined ? `a list of strings, each ${spec.expected}` : 'a list of strings';
    case 'mapList':
      return 'a list of maps (Kubernetes objects)';
    case 'map':
      return `a map with keys among ${spec.keys.join(', ')} (Kubernetes objects)`;
    case 'object':
      return `a map with keys ${Object.keys(spec.fields).join(', ')}`;
  }
}

