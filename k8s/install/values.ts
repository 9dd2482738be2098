/**
 * The install values: one TypeScript type, its defaults, and a field-by-field description ({@link VALUES_SPEC})
 * that drives strict parsing of `--values FILE`. The Helm chart's `values.yaml` and `values.schema.json` carry the
 * same keys and defaults; tests compare them with this file, so this is the one place a value is defined.
 */
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { IMAGE_REPOSITORY } from '../constants.js';
import { INJECTED_REQUESTS } from '../inject/parts.js';
import { parseQuantity } from '../quantity.js';

/** Values of `ccmesh install --print` and of the Helm chart. */
export interface InstallValues {
  readonly image: {
    readonly repository: string;
    /** Empty: the ccmesh version (the chart's appVersion). */
    readonly tag: string;
    /** `sha256:<64 hex>`: the image is pulled by digest (`repository@digest`); empty: by tag. */
    readonly digest: string;
    readonly pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  };
  /** Names of Secrets (in the install namespace) the Coordinator and injector pods pull with. */
  readonly imagePullSecrets: readonly string[];
  readonly coordinator: {
    /** 0: automatic — 1 with the file store, {@link ETCD_DEFAULT_REPLICAS} with etcd. */
    readonly replicas: number;
    /** Empty: no runtime class (the Coordinator then runs outside a TEE — development only). */
    readonly runtimeClassName: string;
    readonly store: {
      readonly type: 'file' | 'etcd';
      readonly size: string;
      /** Empty: the cluster's default StorageClass. */
      readonly storageClassName: string;
      readonly etcdEndpoints: readonly string[];
      /** Secret holding `ca.crt`, `tls.crt` and `tls.key` for etcd's client TLS; empty: system roots, no client cert. */
      readonly etcdTlsSecret: string;
    };
    readonly resources: Resources;
    readonly podAntiAffinity: 'preferred' | 'required';
    readonly podDisruptionBudget: { readonly enabled: boolean; readonly maxUnavailable: number };
  } & Scheduling;
  readonly injector: {
    readonly replicas: number;
    /** Secret with `tls.crt`, `tls.key` and `ca.crt` the webhook serves with (e.g. cert-manager's); empty: see `caSecret`. */
    readonly tlsSecret: string;
    /** Without `tlsSecret`: the Secret the injectors keep their self-managed CA in (`--ca-secret`); empty: in memory. */
    readonly caSecret: string;
    /** Memory limit of every injected proxy; empty: none. */
    readonly proxyMemoryLimit: string;
    readonly podDisruptionBudget: { readonly enabled: boolean; readonly maxUnavailable: number };
    readonly failurePolicy: 'Fail' | 'Ignore';
    readonly timeoutSeconds: number;
    readonly reinvocationPolicy: 'Never' | 'IfNeeded';
    readonly tee: 'auto' | 'configfs-tsm' | 'sev-guest' | 'tdx-guest';
    /** The Coordinator's policy hash injected pods verify (`--coordinator-policy`); empty: not pinned. */
    readonly coordinatorPolicy: string;
    /** The mesh owner pin injected pods verify (`--mesh-owner`); empty: not pinned. Set with `coordinatorPolicy`. */
    readonly meshOwner: string;
    /** The Coordinator's launch measurements pods accept (`--coordinator-measurement`); empty: not pinned. Set with `coordinatorPolicy`. */
    readonly coordinatorMeasurements: readonly string[];
    readonly resources: Resources;
  } & Scheduling;
  readonly metrics: {
    readonly podAnnotations: boolean;
    /** `prometheus.io/*` annotations (the sidecar admin port) on injected pods. */
    readonly sidecarPodAnnotations: boolean;
    readonly serviceMonitor: { readonly enabled: boolean; readonly interval: string; readonly labels: Readonly<Record<string, string>> };
    readonly podMonitor: { readonly enabled: boolean; readonly interval: string; readonly labels: Readonly<Record<string, string>> };
  };
}

/** Where a component's pods run and what they carry; the Kubernetes fields are checked by the pod's schema. */
export interface Scheduling {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Readonly<Record<string, unknown>>[];
  /** nodeAffinity and podAffinity only (the Coordinator's podAntiAffinity is its own value). */
  readonly affinity: Readonly<Record<string, unknown>>;
  readonly topologySpreadConstraints: readonly Readonly<Record<string, unknown>>[];
  readonly priorityClassName: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
}

/** Coordinator replicas on etcd when `coordinator.replicas` is 0 (automatic). */
export const ETCD_DEFAULT_REPLICAS = 3;

/** The Coordinator's replica count after resolving 0 (automatic). */
export function coordinatorReplicas(v: InstallValues): number {
  if (v.coordinator.replicas !== 0) return v.coordinator.replicas;
  return v.coordinator.store.type === 'etcd' ? ETCD_DEFAULT_REPLICAS : 1;
}

/** Container resources; an empty limit means "no limit". */
export interface Resources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/** Defaults; `charts/ccmesh/values.yaml` must hold exactly these (tested). */
const NO_SCHEDULING: Scheduling = { nodeSelector: {}, tolerations: [], affinity: {}, topologySpreadConstraints: [], priorityClassName: '', podLabels: {}, podAnnotations: {} };

export const DEFAULT_VALUES: InstallValues = deepFreeze({
  image: { repository: IMAGE_REPOSITORY, tag: '', digest: '', pullPolicy: 'IfNotPresent' },
  imagePullSecrets: [],
  coordinator: {
    replicas: 0,
    runtimeClassName: 'kata-qemu-snp',
    store: { type: 'file', size: '1Gi', storageClassName: '', etcdEndpoints: [], etcdTlsSecret: '' },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '', memory: '' } },
    ...NO_SCHEDULING,
    podAntiAffinity: 'preferred',
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
  },
  injector: {
    replicas: 2,
    tlsSecret: '',
    caSecret: 'ccmesh-injector-ca',
    proxyMemoryLimit: '',
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
    reinvocationPolicy: 'Never',
    tee: 'auto',
    coordinatorPolicy: '',
    meshOwner: '',
    coordinatorMeasurements: [],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '', memory: '' } },
    ...NO_SCHEDULING,
  },
  metrics: {
    podAnnotations: false,
    sidecarPodAnnotations: false,
    serviceMonitor: { enabled: false, interval: '30s', labels: {} },
    podMonitor: { enabled: false, interval: '30s', labels: {} },
  },
} satisfies InstallValues);

/** Description of one value: its type, constraints and the sentence the chart README shows. */
export type ValueSpec =
  /** `expected`: what the pattern means (for a list: what each item must be), in words, for error messages. */
  | { readonly type: 'string'; readonly doc: string; readonly pattern?: string; readonly expected?: string }
  | { readonly type: 'integer'; readonly doc: string; readonly minimum: number; readonly maximum: number }
  | { readonly type: 'boolean'; readonly doc: string }
  | { readonly type: 'enum'; readonly doc: string; readonly values: readonly string[] }
  | { readonly type: 'stringMap'; readonly doc: string }
  | { readonly type: 'stringList'; readonly doc: string; readonly pattern?: string; readonly expected?: string }
  /** Kubernetes objects passed through as given (tolerations, topology spread): a list of maps; the pod schema checks them. */
  | { readonly type: 'mapList'; readonly doc: string }
  /** A Kubernetes object passed through as given, limited to `keys` (affinity). */
  | { readonly type: 'map'; readonly doc: string; readonly keys: readonly string[] }
  | { readonly type: 'object'; readonly doc: string; readonly fields: Readonly<Record<string, ValueSpec>> };

/** A Kubernetes resource quantity (`100m`, `1Gi`), or empty where "unset" is allowed. */
const QUANTITY = '^([0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?)?$';
const QUANTITY_REQUIRED = '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$';
/** A DNS-1123 name, or empty. */
const DNS_NAME_OR_EMPTY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$';
/** An etcd client URL as `--store etcd:` takes it: scheme, host (or [IPv6]) and port, nothing after. */
const ETCD_ENDPOINT = '^https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$';
/** A SHA-256 pin in lowercase hex (what `ccmesh injector` and the initializer accept), or empty for "not pinned". */
export const PIN_OR_EMPTY = '^([0-9a-f]{64})?$';
/** A launch measurement (SEV-SNP MEASUREMENT or TDX MRTD, 48 bytes) in lowercase hex, as `inject` takes it. */
export const MEASUREMENT = '^[0-9a-f]{96}$';

/** A DNS-1123 subdomain name (Secrets, PriorityClasses), or empty. */
const SUBDOMAIN_OR_EMPTY = '^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$';
/** A memory quantity (no milli suffix), or empty. */
const MEMORY_OR_EMPTY = '^([0-9]+(\\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?)?$';

/** The scheduling and pod metadata values every component has, in README order. */
function schedulingSpec(who: string, affinityKeys: readonly string[]): Record<string, ValueSpec> {
  return {
    nodeSelector: { type: 'stringMap', doc: `nodeSelector of the ${who} pods.` },
    tolerations: { type: 'mapList', doc: `tolerations of the ${who} pods (Kubernetes Toleration objects).` },
    affinity: { type: 'map', doc: `affinity of the ${who} pods: ${affinityKeys.map((k) => `\`${k}\``).join(' and ')} (Kubernetes objects).`, keys: affinityKeys },
    topologySpreadConstraints: { type: 'mapList', doc: `topologySpreadConstraints of the ${who} pods (their labelSelector must be given; use the pods' \`app.kubernetes.io/name\` and \`app.kubernetes.io/component\` labels).` },
    priorityClassName: { type: 'string', doc: `PriorityClass of the ${who} pods; empty: none.`, pattern: SUBDOMAIN_OR_EMPTY },
    podLabels: { type: 'stringMap', doc: `Extra labels on the ${who} pods (the chart's own labels win).` },
    podAnnotations: { type: 'stringMap', doc: `Extra annotations on the ${who} pods (the chart's own annotations win).` },
  };
}

function resourcesSpec(who: string): ValueSpec {
  const q = (what: string, required: boolean): ValueSpec => ({ type: 'string', doc: what, pattern: required ? QUANTITY_REQUIRED : QUANTITY });
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
        repository: { type: 'string', doc: 'Image repository.', pattern: '^[^\\s:@]+(:[0-9]+)?[^\\s:@]*$' },
        tag: { type: 'string', doc: 'Image tag; empty means the ccmesh version (the chart\'s appVersion).', pattern: '^[A-Za-z0-9_.-]{0,128}$' },
        digest: { type: 'string', doc: 'Image digest (`sha256:` and 64 hex digits): every ccmesh container, injected ones included, is pulled as `repository@digest` (the tag is then ignored); empty: by tag.', pattern: '^(sha256:[0-9a-f]{64})?$', expected: '"sha256:" and 64 lowercase hex digits, or empty' },
        pullPolicy: { type: 'enum', doc: 'imagePullPolicy of every ccmesh container.', values: ['Always', 'IfNotPresent', 'Never'] },
      },
    },
    imagePullSecrets: { type: 'stringList', doc: 'Names of image pull Secrets in the install namespace, for the Coordinator and injector pods (injected pods use their own namespace\'s).', pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$', expected: 'a Secret name' },
    coordinator: {
      type: 'object',
      doc: 'The Coordinator StatefulSet.',
      fields: {
        replicas: { type: 'integer', doc: 'Coordinator replicas; 0: automatic (1 with the file store, 3 with etcd). The file store takes exactly 1; more need `store.type: etcd`.', minimum: 0, maximum: 7 },
        runtimeClassName: { type: 'string', doc: 'RuntimeClass of the Coordinator pod (its TEE, e.g. kata-qemu-snp or kata-qemu-tdx); empty: none (development only).', pattern: DNS_NAME_OR_EMPTY },
        store: {
          type: 'object',
          doc: 'Where the Coordinator keeps its state.',
          fields: {
            type: { type: 'enum', doc: '`file` (embedded store on a PersistentVolumeClaim, one replica) or `etcd` (an etcd cluster shared by the replicas; see docs/operations.md).', values: ['file', 'etcd'] },
            size: { type: 'string', doc: 'Size of the file store\'s PersistentVolumeClaim.', pattern: QUANTITY_REQUIRED },
            storageClassName: { type: 'string', doc: 'StorageClass of the PersistentVolumeClaim; empty: the cluster default.', pattern: DNS_NAME_OR_EMPTY },
            etcdEndpoints: { type: 'stringList', doc: 'etcd client URLs for `type: etcd` (`https://HOST:PORT`, one scheme for all; `http://` only for development).', pattern: ETCD_ENDPOINT, expected: 'an etcd client URL, https://HOST:PORT (or http://HOST:PORT)' },
            etcdTlsSecret: { type: 'string', doc: 'Secret with `ca.crt` (etcd\'s CA), `tls.crt` and `tls.key` (the client certificate) for `https://` endpoints, passed as `--etcd-ca`, `--etcd-cert`, `--etcd-key`; empty: the system roots and no client certificate.', pattern: SUBDOMAIN_OR_EMPTY },
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
        tlsSecret: { type: 'string', doc: 'Secret with `tls.crt`, `tls.key` and `ca.crt` for the webhook (e.g. a cert-manager Certificate for the injector Service), mounted and passed as `--tls-dir` (re-read on rotation; the injector puts `ca.crt` into the caBundle). Empty: `caSecret`.', pattern: SUBDOMAIN_OR_EMPTY },
        caSecret: { type: 'string', doc: 'Without `tlsSecret`: the Secret in the install namespace where the injectors keep the CA and certificate they make (`--ca-secret`; the first creates it, the others read it, and they rotate its CA together; RBAC: get and update on it, create on Secrets). Empty: each start makes an in-memory CA (one replica, Recreate).', pattern: SUBDOMAIN_OR_EMPTY },
        proxyMemoryLimit: { type: 'string', doc: 'Memory limit of every injected proxy sidecar (at least its 128Mi request, e.g. 256Mi); empty: none (see docs/kubernetes.md, "Resources"). A pod\'s `ccmesh.dev/proxy-memory-limit` overrides it.', pattern: MEMORY_OR_EMPTY },
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
            interval: { type: 'string', doc: 'Scrape interval.', pattern: '^[0-9]+(ms|s|m|h)$' },
            labels: { type: 'stringMap', doc: 'Extra labels on the ServiceMonitors (e.g. the `release` label your Prometheus selects).' },
          },
        },
        podMonitor: {
          type: 'object',
          doc: 'A prometheus-operator PodMonitor for the injected sidecars\' admin port (`ccmesh-admin`, `/metrics`) in every namespace.',
          fields: {
            enabled: { type: 'boolean', doc: 'Create the PodMonitor (needs the monitoring.coreos.com/v1 CRD).' },
            interval: { type: 'string', doc: 'Scrape interval.', pattern: '^[0-9]+(ms|s|m|h)$' },
            labels: { type: 'stringMap', doc: 'Extra labels on the PodMonitor.' },
          },
        },
      },
    },
  },
};

/**
 * Why a combination of values is refused, by rule; the chart `fail`s with the same sentences (tested). Each names the
 * values involved and what to do instead.
 */
export const VALUE_RULES = Object.freeze({
  fileStoreOneReplica: 'coordinator.replicas above 1 needs coordinator.store.type "etcd": the file store lives on one pod\'s volume and cannot be shared; use 1 (or 0: automatic), or an etcd store',
  etcdNeedsEndpoints: 'coordinator.store.type "etcd" needs coordinator.store.etcdEndpoints: the client URLs (https://HOST:PORT) of the etcd cluster the replicas share',
  etcdValuesWithoutEtcd: 'coordinator.store.etcdEndpoints and coordinator.store.etcdTlsSecret are read only with coordinator.store.type "etcd"',
  etcdOneScheme: 'coordinator.store.etcdEndpoints must all use one scheme, https:// (or http:// for development)',
  etcdTlsNeedsHttps: 'coordinator.store.etcdTlsSecret is only for https:// etcd endpoints (these use http://, without TLS)',
  injectorReplicasNeedTls: 'injector.replicas above 1 needs injector.caSecret or injector.tlsSecret: without either each injector makes its own in-memory CA and the replicas would overwrite each other\'s caBundle',
});

/** Why a partial set of the Coordinator pins is refused; the chart `fail`s with the same sentence (tested). */
export const PINS_PARTIAL =
  'injector.coordinatorPolicy, injector.meshOwner and injector.coordinatorMeasurements are set together or not at all: pods that verify the Coordinator must also pin the owner of its mesh and its launch measurement';
/** What `install --print` (stderr) and the chart's NOTES say when pods are not pinned (tested equal). */
export const UNPINNED_WARNING =
  'injector.coordinatorPolicy, injector.meshOwner and injector.coordinatorMeasurements are not set: injected pods will not verify the ' +
  'Coordinator or its mesh owner (a fake Coordinator, or a genuine one whose store the host wiped and set again under another owner, ' +
  'could hand them an identity and workload secret). Pin them: ccmesh install --print --workspace DIR, or set the three values.';

/**
 * Parses a values document (already YAML-decoded) strictly: unknown keys, wrong types and out-of-range values are
 * all reported at once as a {@link ConfigError} naming each key path. Missing keys take {@link DEFAULT_VALUES}.
 * Combinations that could only crash-loop ({@link VALUE_RULES}) are refused here too, and so is a partial set of the
 * injector's Coordinator pins (policy, owner, measurements: all or none).
 */
export function parseInstallValues(doc: unknown, source: string): InstallValues {
  const issues: ConfigIssue[] = [];
  const merged = doc === null || doc === undefined ? DEFAULT_VALUES : readValue(VALUES_SPEC, doc, DEFAULT_VALUES, '', issues);
  if (issues.length === 0) {
    const v = merged as InstallValues;
    issues.push(...combinationIssues(v));
    issues.push(...partialPinIssues(v.injector));
  }
  if (issues.length > 0) throw new ConfigError(`install values from ${source}`, issues);
  return deepFreeze(merged as InstallValues);
}

/** One issue per broken {@link VALUE_RULES} rule, naming the value to change. */
function combinationIssues(v: InstallValues): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const store = v.coordinator.store;
  const etcd = store.type === 'etcd';
  if (!etcd && v.coordinator.replicas > 1) out.push({ field: 'coordinator.replicas', value: String(v.coordinator.replicas), expected: `1 or 0 with the file store (${VALUE_RULES.fileStoreOneReplica})` });
  if (etcd && store.etcdEndpoints.length === 0) out.push({ field: 'coordinator.store.etcdEndpoints', value: '[]', expected: `at least one endpoint (${VALUE_RULES.etcdNeedsEndpoints})` });
  if (!etcd && (store.etcdEndpoints.length > 0 || store.etcdTlsSecret !== '')) {
    out.push({ field: store.etcdEndpoints.length > 0 ? 'coordinator.store.etcdEndpoints' : 'coordinator.store.etcdTlsSecret', value: store.etcdEndpoints.length > 0 ? store.etcdEndpoints.join(',') : store.etcdTlsSecret, expected: `nothing with the file store (${VALUE_RULES.etcdValuesWithoutEtcd})` });
  }
  const schemes = new Set(store.etcdEndpoints.map((e) => e.slice(0, e.indexOf(':'))));
  if (schemes.size > 1) out.push({ field: 'coordinator.store.etcdEndpoints', value: store.etcdEndpoints.join(','), expected: `one scheme (${VALUE_RULES.etcdOneScheme})` });
  if (etcd && schemes.size === 1 && schemes.has('http') && store.etcdTlsSecret !== '') out.push({ field: 'coordinator.store.etcdTlsSecret', value: store.etcdTlsSecret, expected: `empty with http:// endpoints (${VALUE_RULES.etcdTlsNeedsHttps})` });
  if (v.injector.replicas > 1 && v.injector.tlsSecret === '' && v.injector.caSecret === '') out.push({ field: 'injector.replicas', value: String(v.injector.replicas), expected: `1 without injector.caSecret or injector.tlsSecret (${VALUE_RULES.injectorReplicasNeedTls})` });
  if (v.injector.proxyMemoryLimit !== '') {
    const limit = parseQuantity(v.injector.proxyMemoryLimit, 'memory');
    if (limit === undefined || limit < parseQuantity(INJECTED_REQUESTS.proxy.memory, 'memory')!) {
      out.push({ field: 'injector.proxyMemoryLimit', value: v.injector.proxyMemoryLimit, expected: `a memory quantity of at least the proxy's request ${INJECTED_REQUESTS.proxy.memory}, or empty` });
    }
  }
  return out;
}

/** The Coordinator pins of the injector, by value key, with what each must be when another is set. */
const PIN_KEYS = [
  ['coordinatorPolicy', '64 lowercase hex digits'],
  ['meshOwner', '64 lowercase hex digits'],
  ['coordinatorMeasurements', 'at least one launch measurement (96 lowercase hex digits)'],
] as const;

/** The Coordinator pins as `install --print` and the chart take them; any key left out keeps its value. */
export interface InjectorPins {
  readonly coordinatorPolicy?: string;
  readonly meshOwner?: string;
  readonly coordinatorMeasurements?: readonly string[];
}

/** One issue per empty pin when another pin is set (all or none), naming the value path; none otherwise. */
function partialPinIssues(inj: InstallValues['injector']): ConfigIssue[] {
  const isSet = (k: (typeof PIN_KEYS)[number][0]): boolean => inj[k].length > 0;
  const given = PIN_KEYS.filter(([k]) => isSet(k)).map(([k]) => `injector.${k}`);
  if (given.length === 0 || given.length === PIN_KEYS.length) return [];
  return PIN_KEYS.filter(([k]) => !isSet(k)).map(([k, what]) => ({
    field: `injector.${k}`,
    value: k === 'coordinatorMeasurements' ? '[]' : '',
    expected: `${what}, since ${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'} set (${PINS_PARTIAL})`,
  }));
}

/**
 * The values with the injector's Coordinator pins replaced where `pins` gives one (later sources — a workspace, flags —
 * override a values file key by key); the result is checked again, so a partial set is refused naming its value paths.
 */
export function withInjectorPins(values: InstallValues, pins: InjectorPins, source: string): InstallValues {
  const doc = JSON.parse(JSON.stringify(values)) as { injector: Record<string, unknown> };
  for (const [k] of PIN_KEYS) if (pins[k] !== undefined) doc.injector[k] = pins[k];
  return parseInstallValues(doc, source);
}

/** Human words for a spec's expected type, used in issues. */
export function describeSpec(spec: ValueSpec): string {
  switch (spec.type) {
    case 'string':
      if (spec.expected !== undefined) return spec.expected;
      return spec.pattern ? `a string matching ${spec.pattern}` : 'a string';
    case 'integer':
      return `an integer from ${spec.minimum} to ${spec.maximum}`;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'stringMap':
      return 'a map of string keys to string values';
    case 'stringList':
      if (spec.expected !== undefined) return `a list of strings, each ${spec.expected}`;
      return spec.pattern ? `a list of strings matching ${spec.pattern}` : 'a list of strings';
    case 'mapList':
      return 'a list of maps (Kubernetes objects)';
    case 'map':
      return `a map with keys among ${spec.keys.join(', ')} (Kubernetes objects)`;
    case 'object':
      return `a map with keys ${Object.keys(spec.fields).join(', ')}`;
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'map' : typeof v;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `value` against `spec`, falling back to `fallback` for missing object keys; records issues by path. */
function readValue(spec: ValueSpec, value: unknown, fallback: unknown, path: string, issues: ConfigIssue[]): unknown {
  const bad = (): unknown => {
    const kind = kindOf(value);
    const wanted = spec.type === 'integer' ? 'number' : spec.type === 'enum' ? 'string' : spec.type === 'stringMap' || spec.type === 'object' || spec.type === 'map' ? 'map' : spec.type === 'stringList' || spec.type === 'mapList' ? 'list' : spec.type;
    // Say the type when it is the problem: `"3"` (a string) and `3` look alike once printed.
    issues.push({ field: path || '(document)', value: kind === wanted ? show(value) : `${show(value)} (a ${kind})`, expected: describeSpec(spec) });
    return fallback;
  };
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string' || (spec.pattern !== undefined && !new RegExp(spec.pattern).test(value))) return bad();
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.minimum || value > spec.maximum) return bad();
      return value;
    case 'boolean':
      return typeof value === 'boolean' ? value : bad();
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? value : bad();
    case 'stringMap': {
      if (!isPlainMap(value)) return bad();
      const before = issues.length;
      for (const [k, x] of Object.entries(value)) readValue({ type: 'string', doc: '' }, x, undefined, join(path, k), issues);
      return issues.length === before ? { ...value } : fallback;
    }
    case 'stringList': {
      if (!Array.isArray(value)) return bad();
      const before = issues.length;
      const item: ValueSpec = { type: 'string', doc: '', ...(spec.pattern !== undefined ? { pattern: spec.pattern } : {}), ...(spec.expected !== undefined ? { expected: spec.expected } : {}) };
      value.forEach((x: unknown, i) => readValue(item, x, undefined, `${path}[${i}]`, issues));
      return issues.length === before ? [...(value as string[])] : fallback;
    }
    case 'mapList':
      if (!Array.isArray(value) || !value.every(isPlainMap)) return bad();
      return structuredClone(value);
    case 'map': {
      if (!isPlainMap(value)) return bad();
      const before = issues.length;
      for (const key of Object.keys(value)) {
        if (!spec.keys.includes(key)) issues.push({ field: join(path, key), value: show(value[key]), expected: `no such key ("${path}" has ${spec.keys.join(', ')})` });
        else if (!isPlainMap(value[key])) issues.push({ field: join(path, key), value: show(value[key]), expected: 'a map (a Kubernetes object)' });
      }
      return issues.length === before ? structuredClone(value) : fallback;
    }
    case 'object': {
      if (!isPlainMap(value)) return bad();
      const base = isPlainMap(fallback) ? fallback : {};
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!(key in spec.fields)) issues.push({ field: join(path, key), value: show(value[key]), expected: `no such key (${path ? `"${path}" has` : 'known top-level keys:'} ${Object.keys(spec.fields).join(', ')})` });
      }
      for (const [key, sub] of Object.entries(spec.fields)) {
        out[key] = key in value ? readValue(sub, value[key], base[key], join(path, key), issues) : base[key];
      }
      return out;
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
