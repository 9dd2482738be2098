/**
 * The install values: one TypeScript type, its defaults, and the reading of `--values FILE`. What each value may be
 * is described once ({@link VALUES_SPEC}, values-spec.ts) and rendered as the chart's `values.schema.json`; the
 * reader validates with that JSON Schema (values-check.ts), then checks what JSON Schema can't say (cross-value rules,
 * quantity arithmetic). The chart's `values.yaml` holds exactly these defaults (tested).
 */
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { IMAGE_REPOSITORY } from '../constants.js';
import { INJECTED_REQUESTS } from '../inject/parts.js';
import { parseQuantity } from '../quantity.js';
import { schemaIssues } from './values-check.js';

export { describeSpec, MEASUREMENT, PIN_OR_EMPTY, VALUES_SPEC, type ValueSpec } from './values-spec.js';

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
 * Parses a values document (already YAML-decoded) strictly, in two steps, reporting every problem of a step at once
 * as a {@link ConfigError} naming each key path:
 * 1. the document is merged over {@link DEFAULT_VALUES} as Helm merges a values file over `values.yaml` (maps key by
 *    key; lists, scalars and null replace), and the result is validated with the chart's JSON Schema — unknown keys,
 *    wrong types, out-of-range numbers and malformed strings are refused exactly as Helm refuses them;
 * 2. what a JSON Schema can't express, which the chart checks in its `ccmesh.validate` template instead: combinations
 *    that could only crash-loop ({@link VALUE_RULES}), a partial set of the injector's Coordinator pins (policy, owner,
 *    measurements: all or none), and the proxy memory limit against the proxy's request.
 */
export function parseInstallValues(doc: unknown, source: string): InstallValues {
  const merged = doc === null || doc === undefined ? DEFAULT_VALUES : mergeOver(DEFAULT_VALUES, doc);
  const issues = schemaIssues(merged);
  if (issues.length === 0) {
    const v = merged as InstallValues;
    issues.push(...combinationIssues(v));
    issues.push(...partialPinIssues(v.injector));
  }
  if (issues.length > 0) throw new ConfigError(`install values from ${source}`, issues);
  return deepFreeze(merged as InstallValues);
}

/**
 * `doc` over `base` as Helm coalesces a values file over the chart's values: two maps merge key by key, anything else
 * in `doc` (a list, a scalar, null) replaces. The result shares nothing mutable with `doc`. Keys are defined, not
 * assigned, so a `__proto__` key stays a key the schema refuses instead of changing the map's prototype.
 */
function mergeOver(base: unknown, doc: unknown): unknown {
  if (!isPlainMap(base) || !isPlainMap(doc)) return structuredClone(doc);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(doc)) {
    Object.defineProperty(out, k, { value: Object.hasOwn(base, k) ? mergeOver(base[k], v) : structuredClone(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
