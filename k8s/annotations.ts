/**
 * The `ccmesh.dev/*` annotations of a pod template, parsed once into a typed, validated {@link PodMeshAnnotations}
 * with every problem reported at once. `inject`, `ccmesh generate` and the webhook all read them through here, so a
 * value one of them accepts is accepted by all.
 *
 * Absent annotations mean the most restrictive mesh: injected, every port mTLS, no egress, the default admin port.
 */
import { closest } from '../lib/config/argv.js';
import { CcmeshError, ErrorCode, formatIssue, type ConfigIssue } from '../lib/errors.js';
import { parseEgressSpec } from '../lib/mesh-config/egress.js';
import { parseIngressSpec, parsePortText } from '../lib/mesh-config/ingress.js';
import { PORTS } from '../lib/mesh-ports.js';
import { ANNOTATIONS, INJECTED } from './constants.js';
import { expectedQuantity, parseQuantity, type QuantityKind } from './quantity.js';

/** JSON-shaped object as parsed from YAML (kept local: `lib/`-style leaf module, imported by `inject`). */
type Obj = Record<string, unknown>;

/** The mesh settings of one pod template, validated. */
export interface PodMeshAnnotations {
  /** False only for `ccmesh.dev/inject: "false"` or `"disabled"`; absent, `"true"` or `"enabled"` = inject. */
  inject: boolean;
  /** The ingress spec exactly as written (validated); '' = every port requires mTLS. */
  ingress: string;
  /** The egress spec exactly as written (validated); '' = no egress listeners. */
  egress: string;
  /** The sidecar admin port (/live, /ready, /metrics); default PORTS.sidecarAdmin. */
  adminPort: number;
  /** Manifest workload-secret id (used by `ccmesh generate`, not by the injected args). */
  workloadSecretId?: string;
  /** `coordinator` marks the Coordinator's own pod, which is never injected. */
  podRole: '' | 'coordinator';
  /** Names of pod volumes whose files the initializer checks against the manifest's configDigests. */
  configVolumes: readonly string[];
  /** Per-pod overrides of the proxy's resources, each a validated quantity as written; absent = the install's. */
  proxyResources: ProxyResourceOverrides;
  /** `ccmesh.dev/secure-pv`: the raw block volume to encrypt and the volume its filesystem is mounted into. */
  securePv?: SecurePvAnnotation;
  /** False only for `ccmesh.dev/rewrite-probes: "false"`: probes on captured ports are refused, not rewritten. */
  rewriteProbes: boolean;
}

/** The parsed `ccmesh.dev/secure-pv: <blockVolume>:<mountVolume>`. */
export interface SecurePvAnnotation {
  /** Pod volume (or StatefulSet volumeClaimTemplate) of the raw block device, `volumeMode: Block`. */
  readonly block: string;
  /** emptyDir the helper mounts the decrypted filesystem into; the app containers mount it. */
  readonly mount: string;
}

/** The `ccmesh.dev/proxy-{cpu,memory}-{request,limit}` annotations, validated, as written. */
export interface ProxyResourceOverrides {
  readonly cpuRequest?: string;
  readonly memoryRequest?: string;
  readonly cpuLimit?: string;
  readonly memoryLimit?: string;
}

/** Each proxy resource annotation: the override field it sets and what it measures. */
export const PROXY_RESOURCE_ANNOTATIONS: readonly { readonly key: string; readonly field: keyof ProxyResourceOverrides; readonly kind: QuantityKind }[] = Object.freeze([
  { key: ANNOTATIONS.proxyCpuRequest, field: 'cpuRequest', kind: 'cpu' },
  { key: ANNOTATIONS.proxyMemoryRequest, field: 'memoryRequest', kind: 'memory' },
  { key: ANNOTATIONS.proxyCpuLimit, field: 'cpuLimit', kind: 'cpu' },
  { key: ANNOTATIONS.proxyMemoryLimit, field: 'memoryLimit', kind: 'memory' },
]);

/** Mesh listener ports no app port, admin port or egress listener may take. */
export const RESERVED_MESH_PORTS: ReadonlyMap<number, string> = new Map([
  [PORTS.outbound, 'the transparent outbound listener'],
  [PORTS.inboundMtls, 'the inbound mTLS listener'],
  [PORTS.inboundTls, 'the inbound TLS listener'],
]);

const VOLUME_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Same rule as the manifest schema's workloadSecretId: 1–256 characters, no control characters.
// eslint-disable-next-line no-control-regex
const SECRET_ID_RE = /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/;

/**
 * Values of `ccmesh.dev/inject`: `true`/`false` and, as linkerd and Istio users write them, `enabled`/`disabled`.
 * The value decides whether a pod is in the mesh, so anything else is refused rather than guessed.
 */
const INJECT_VALUES: Readonly<Record<string, boolean>> = Object.freeze({ true: true, enabled: true, false: false, disabled: false });
const INJECT_EXPECTED = '"true", "enabled", "false" or "disabled"';

/** Whether `text` (a `ccmesh.dev/inject` value) opts the pod out; undefined when it is none of the allowed values. */
function injectValue(text: string): boolean | undefined {
  return Object.hasOwn(INJECT_VALUES, text) ? INJECT_VALUES[text] : undefined;
}

/** The annotations map of a pod template (`metadata.annotations`), or an empty one. */
export function templateAnnotations(template: Obj): Readonly<Record<string, unknown>> {
  const meta = template.metadata;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return {};
  const ann = (meta as Obj).annotations;
  if (ann === null || typeof ann !== 'object' || Array.isArray(ann)) return {};
  return ann as Obj;
}

/**
 * Whether the pod template opts out of the mesh: `ccmesh.dev/inject: "false"`, or pod-role `coordinator` (the
 * Coordinator's own pod). Only these two annotations are read, so an opted-out pod's other annotations are never
 * judged. Throws like {@link readPodAnnotations} when either holds a value other than the ones allowed.
 */
export function isOptedOut(template: Obj, where: string): boolean {
  const ann = templateAnnotations(template);
  const issues: ConfigIssue[] = [];
  const inject = ann[ANNOTATIONS.inject];
  const role = ann[ANNOTATIONS.podRole];
  if (inject !== undefined && inject !== null && (typeof inject !== 'string' || injectValue(inject) === undefined)) {
    issues.push({ field: ANNOTATIONS.inject, value: typeof inject === 'string' ? inject : JSON.stringify(inject), expected: INJECT_EXPECTED });
  }
  if (role !== undefined && role !== null && role !== '' && role !== 'coordinator') {
    issues.push({ field: ANNOTATIONS.podRole, value: typeof role === 'string' ? role : JSON.stringify(role), expected: '"coordinator" or nothing' });
  }
  if (issues.length > 0) throw invalid(where, issues);
  return (typeof inject === 'string' && injectValue(inject) === false) || role === 'coordinator';
}

/** Prefix of the annotation keys ccmesh reads; a key under it that ccmesh does not know is most likely a typo. */
const MESH_ANNOTATION_PREFIX = 'ccmesh.dev/';

/**
 * One warning per `ccmesh.dev/*` annotation of the pod template that ccmesh does not read (a typo such as
 * `ccmesh.dev/ingres` would otherwise silently leave the default, most restrictive mesh), naming the nearest known
 * key when one is close. Warnings, not refusals: an unknown key changes nothing.
 */
export function unknownAnnotationWarnings(template: Obj): string[] {
  const known: string[] = Object.values(ANNOTATIONS).filter((k) => k.startsWith(MESH_ANNOTATION_PREFIX));
  const out: string[] = [];
  for (const key of Object.keys(templateAnnotations(template)).sort()) {
    if (!key.startsWith(MESH_ANNOTATION_PREFIX) || known.includes(key)) continue;
    const near = closest(key.slice(MESH_ANNOTATION_PREFIX.length), known.map((k) => k.slice(MESH_ANNOTATION_PREFIX.length)));
    out.push(`unknown annotation ${key} (ignored)${near === undefined ? `; ccmesh reads ${known.join(', ')}` : `: did you mean ${MESH_ANNOTATION_PREFIX}${near}?`}`);
  }
  return out;
}

function invalid(where: string, issues: readonly ConfigIssue[]): CcmeshError {
  return new CcmeshError(ErrorCode.K8S_INJECT_REFUSED, `refusing to inject ${where}: invalid ccmesh annotations on the pod template:\n${issues.map(formatIssue).join('\n')}`);
}

/**
 * Reads and validates the mesh annotations of a pod template. `where` names the resource in the error
 * (e.g. `Deployment default/web`). Throws one CcmeshError(K8S_INJECT_REFUSED) listing every bad annotation with its
 * value and what was expected.
 */
export function readPodAnnotations(template: Obj, where: string): PodMeshAnnotations {
  const ann = templateAnnotations(template);
  const issues: ConfigIssue[] = [];
  const str = (key: string): string | undefined => {
    const v = ann[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      issues.push({ field: key, value: JSON.stringify(v), expected: 'a string value (annotations are strings)' });
      return undefined;
    }
    return v;
  };

  const injectText = str(ANNOTATIONS.inject);
  let inject = true;
  if (injectText !== undefined) {
    const v = injectValue(injectText);
    if (v === undefined) issues.push({ field: ANNOTATIONS.inject, value: injectText, expected: INJECT_EXPECTED });
    else inject = v;
  }

  const roleText = str(ANNOTATIONS.podRole);
  let podRole: PodMeshAnnotations['podRole'] = '';
  if (roleText === 'coordinator') podRole = 'coordinator';
  else if (roleText !== undefined && roleText !== '') issues.push({ field: ANNOTATIONS.podRole, value: roleText, expected: '"coordinator" or nothing' });

  const adminText = str(ANNOTATIONS.adminPort);
  let adminPort: number = PORTS.sidecarAdmin;
  if (adminText !== undefined) {
    const p = parsePortText(adminText);
    const clash = p === undefined ? undefined : RESERVED_MESH_PORTS.get(p);
    if (p === undefined) issues.push({ field: ANNOTATIONS.adminPort, value: adminText, expected: 'a port number from 1 to 65535' });
    else if (clash) issues.push({ field: ANNOTATIONS.adminPort, value: adminText, expected: `a port other than ${p} (${clash})` });
    else adminPort = p;
  }

  const ingress = str(ANNOTATIONS.ingress) ?? '';
  const parsedIngress = parseIngressSpec(ingress, ANNOTATIONS.ingress);
  issues.push(...parsedIngress.issues);
  for (const e of parsedIngress.entries) {
    const clash = RESERVED_MESH_PORTS.get(e.port) ?? (e.port === adminPort ? 'the sidecar admin port' : undefined);
    if (clash) issues.push({ field: ANNOTATIONS.ingress, value: `${e.name}#${e.port}`, expected: `a port other than ${e.port} (${clash})` });
  }

  const egress = str(ANNOTATIONS.egress) ?? '';
  const parsedEgress = parseEgressSpec(egress, ANNOTATIONS.egress);
  issues.push(...parsedEgress.issues);
  for (const e of parsedEgress.entries) {
    // The sidecar's own listeners bind every address, so a loopback egress listener on their port can't bind.
    const clash = RESERVED_MESH_PORTS.get(e.listen.port) ?? (e.listen.port === adminPort ? 'the sidecar admin port' : undefined);
    if (clash) issues.push({ field: ANNOTATIONS.egress, value: `${e.name}#${e.listen.host}:${e.listen.port}`, expected: `a listen port other than ${e.listen.port} (${clash})` });
  }

  const secretId = str(ANNOTATIONS.workloadSecretId);
  if (secretId !== undefined && !SECRET_ID_RE.test(secretId)) {
    issues.push({ field: ANNOTATIONS.workloadSecretId, value: secretId, expected: '1 to 256 characters without control characters' });
  }

  const volumesText = str(ANNOTATIONS.configVolumes);
  const configVolumes: string[] = [];
  if (volumesText !== undefined && volumesText.trim() !== '') {
    for (const raw of volumesText.split(',')) {
      const name = raw.trim();
      if (!VOLUME_NAME_RE.test(name)) issues.push({ field: ANNOTATIONS.configVolumes, value: raw, expected: 'comma-separated volume names (lowercase DNS labels)' });
      else if (name === INJECTED.volume) issues.push({ field: ANNOTATIONS.configVolumes, value: raw, expected: `a volume other than ccmesh's own "${INJECTED.volume}"` });
      else if (configVolumes.includes(name)) issues.push({ field: ANNOTATIONS.configVolumes, value: raw, expected: 'each volume named once' });
      else configVolumes.push(name);
    }
  }

  const securePvText = str(ANNOTATIONS.securePv);
  let securePv: SecurePvAnnotation | undefined;
  if (securePvText !== undefined) {
    const parts = securePvText.split(':');
    const expected = '"<blockVolume>:<mountVolume>": two different pod volume names (lowercase DNS labels) joined by ":"';
    if (parts.length !== 2 || !parts.every((p) => VOLUME_NAME_RE.test(p))) issues.push({ field: ANNOTATIONS.securePv, value: securePvText, expected });
    else if (parts[0] === parts[1]) issues.push({ field: ANNOTATIONS.securePv, value: securePvText, expected: `${expected} (the block volume and the mount volume are two volumes)` });
    else if (parts.some((p) => p === INJECTED.volume || p.startsWith(INJECTED.configCopyPrefix))) issues.push({ field: ANNOTATIONS.securePv, value: securePvText, expected: `volumes other than ccmesh's own ("${INJECTED.volume}", "${INJECTED.configCopyPrefix}*")` });
    else if (parts.some((p) => configVolumes.includes(p))) issues.push({ field: ANNOTATIONS.securePv, value: securePvText, expected: `volumes not listed in ${ANNOTATIONS.configVolumes}` });
    else securePv = { block: parts[0]!, mount: parts[1]! };
  }

  const proxyResources: { -readonly [K in keyof ProxyResourceOverrides]: ProxyResourceOverrides[K] } = {};
  for (const a of PROXY_RESOURCE_ANNOTATIONS) {
    const text = str(a.key);
    if (text === undefined) continue;
    if (parseQuantity(text, a.kind) === undefined) issues.push({ field: a.key, value: text, expected: expectedQuantity(a.kind) });
    else proxyResources[a.field] = text;
  }

  const rewriteText = str(ANNOTATIONS.rewriteProbes);
  if (rewriteText !== undefined && rewriteText !== 'true' && rewriteText !== 'false') issues.push({ field: ANNOTATIONS.rewriteProbes, value: rewriteText, expected: '"true" or "false"' });

  if (issues.length > 0) throw invalid(where, issues);
  return {
    inject,
    ingress,
    egress,
    adminPort,
    ...(secretId !== undefined ? { workloadSecretId: secretId } : {}),
    podRole,
    configVolumes,
    proxyResources,
    ...(securePv !== undefined ? { securePv } : {}),
    rewriteProbes: rewriteText !== 'false',
  };
}
