/**
 * The install values: one TypeScript type, its defaults, and a field-by-field description ({@link VALUES_SPEC})
 * that drives strict parsing of `--values FILE`. The Helm chart's `values.yaml` and `values.schema.json` carry the
 * same keys and defaults; tests compare them with this file, so this is the one place a value is defined.
 */
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { IMAGE_REPOSITORY } from '../constants.js';

/** Values of `ccmesh install --print` and of the Helm chart. */
export interface InstallValues {
  readonly image: {
    readonly repository: string;
    /** Empty: the ccmesh version (the chart's appVersion). */
    readonly tag: string;
    readonly pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  };
  readonly coordinator: {
    readonly replicas: number;
    /** Empty: no runtime class (the Coordinator then runs outside a TEE — development only). */
    readonly runtimeClassName: string;
    readonly store: {
      readonly type: 'file' | 'etcd';
      readonly size: string;
      /** Empty: the cluster's default StorageClass. */
      readonly storageClassName: string;
      readonly etcdEndpoints: readonly string[];
    };
    readonly resources: Resources;
    readonly nodeSelector: Readonly<Record<string, string>>;
    readonly podDisruptionBudget: { readonly enabled: boolean; readonly maxUnavailable: number };
  };
  readonly injector: {
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
    readonly nodeSelector: Readonly<Record<string, string>>;
  };
  readonly metrics: {
    readonly podAnnotations: boolean;
    readonly serviceMonitor: { readonly enabled: boolean; readonly interval: string; readonly labels: Readonly<Record<string, string>> };
  };
}

/** Container resources; an empty limit means "no limit". */
export interface Resources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/** Defaults; `charts/ccmesh/values.yaml` must hold exactly these (tested). */
export const DEFAULT_VALUES: InstallValues = deepFreeze({
  image: { repository: IMAGE_REPOSITORY, tag: '', pullPolicy: 'IfNotPresent' },
  coordinator: {
    replicas: 1,
    runtimeClassName: 'kata-qemu-snp',
    store: { type: 'file', size: '1Gi', storageClassName: '', etcdEndpoints: [] },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '', memory: '' } },
    nodeSelector: {},
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
  },
  injector: {
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
    reinvocationPolicy: 'Never',
    tee: 'auto',
    coordinatorPolicy: '',
    meshOwner: '',
    coordinatorMeasurements: [],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '', memory: '' } },
    nodeSelector: {},
  },
  metrics: { podAnnotations: false, serviceMonitor: { enabled: false, interval: '30s', labels: {} } },
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
  | { readonly type: 'object'; readonly doc: string; readonly fields: Readonly<Record<string, ValueSpec>> };

/** A Kubernetes resource quantity (`100m`, `1Gi`), or empty where "unset" is allowed. */
const QUANTITY = '^([0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?)?$';
const QUANTITY_REQUIRED = '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$';
/** A DNS-1123 name, or empty. */
const DNS_NAME_OR_EMPTY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$';
/** A SHA-256 pin in lowercase hex (what `ccmesh injector` and the initializer accept), or empty for "not pinned". */
export const PIN_OR_EMPTY = '^([0-9a-f]{64})?$';
/** A launch measurement (SEV-SNP MEASUREMENT or TDX MRTD, 48 bytes) in lowercase hex, as `inject` takes it. */
export const MEASUREMENT = '^[0-9a-f]{96}$';

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
        pullPolicy: { type: 'enum', doc: 'imagePullPolicy of every ccmesh container.', values: ['Always', 'IfNotPresent', 'Never'] },
      },
    },
    coordinator: {
      type: 'object',
      doc: 'The Coordinator StatefulSet.',
      fields: {
        replicas: { type: 'integer', doc: 'Coordinator replicas. Only 1 is supported until the etcd store exists.', minimum: 1, maximum: 7 },
        runtimeClassName: { type: 'string', doc: 'RuntimeClass of the Coordinator pod (its TEE, e.g. kata-qemu-snp or kata-qemu-tdx); empty: none (development only).', pattern: DNS_NAME_OR_EMPTY },
        store: {
          type: 'object',
          doc: 'Where the Coordinator keeps its state.',
          fields: {
            type: { type: 'enum', doc: '`file` (embedded store on a PersistentVolumeClaim) or `etcd` (planned, refused today).', values: ['file', 'etcd'] },
            size: { type: 'string', doc: 'Size of the file store\'s PersistentVolumeClaim.', pattern: QUANTITY_REQUIRED },
            storageClassName: { type: 'string', doc: 'StorageClass of the PersistentVolumeClaim; empty: the cluster default.', pattern: DNS_NAME_OR_EMPTY },
            etcdEndpoints: { type: 'stringList', doc: 'etcd client URLs for `type: etcd` (planned).', pattern: '^https?://\\S+$' },
          },
        },
        resources: resourcesSpec('Coordinator'),
        nodeSelector: { type: 'stringMap', doc: 'nodeSelector of the Coordinator pod (e.g. nodes with SEV-SNP or TDX).' },
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
        nodeSelector: { type: 'stringMap', doc: 'nodeSelector of the injector pod.' },
      },
    },
    metrics: {
      type: 'object',
      doc: 'Prometheus integration.',
      fields: {
        podAnnotations: { type: 'boolean', doc: 'Add `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path` annotations to the pods.' },
        serviceMonitor: {
          type: 'object',
          doc: 'prometheus-operator ServiceMonitors.',
          fields: {
            enabled: { type: 'boolean', doc: 'Create ServiceMonitors (needs the monitoring.coreos.com/v1 CRD).' },
            interval: { type: 'string', doc: 'Scrape interval.', pattern: '^[0-9]+(ms|s|m|h)$' },
            labels: { type: 'stringMap', doc: 'Extra labels on the ServiceMonitors (e.g. the `release` label your Prometheus selects).' },
          },
        },
      },
    },
  },
};

/** Why `etcd` is refused; the chart `fail`s with the same sentence (tested). */
export const ETCD_NOT_BUILT = 'coordinator.store.type "etcd" is not supported yet: the etcd store backend is not built; use "file"';
/** Why more than one replica is refused; the chart `fail`s with the same sentence (tested). */
export const REPLICAS_NOT_BUILT = 'coordinator.replicas greater than 1 is not supported yet: replicas need a shared store and the etcd store backend is not built; use 1';

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
 * Settings that the schema describes but ccmesh can't run yet (etcd, replicas > 1) are refused here too, and so is
 * a partial set of the injector's Coordinator pins (policy, owner, measurements: all or none).
 */
export function parseInstallValues(doc: unknown, source: string): InstallValues {
  const issues: ConfigIssue[] = [];
  const merged = doc === null || doc === undefined ? DEFAULT_VALUES : readValue(VALUES_SPEC, doc, DEFAULT_VALUES, '', issues);
  if (issues.length === 0) {
    const v = merged as InstallValues;
    if (v.coordinator.store.type === 'etcd') issues.push({ field: 'coordinator.store.type', value: 'etcd', expected: `file (${ETCD_NOT_BUILT})` });
    if (v.coordinator.replicas > 1) issues.push({ field: 'coordinator.replicas', value: String(v.coordinator.replicas), expected: `1 (${REPLICAS_NOT_BUILT})` });
    issues.push(...partialPinIssues(v.injector));
  }
  if (issues.length > 0) throw new ConfigError(`install values from ${source}`, issues);
  return deepFreeze(merged as InstallValues);
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
    const wanted = spec.type === 'integer' ? 'number' : spec.type === 'enum' ? 'string' : spec.type === 'stringMap' || spec.type === 'object' ? 'map' : spec.type === 'stringList' ? 'list' : spec.type;
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
