/**
 * Pure handling of one `admission.k8s.io/v1` AdmissionReview: parse the request (a malformed one is an HTTP 400
 * with every problem named, never a crash), run the same `inject` as `ccmesh generate`, and answer with an RFC 6902
 * JSONPatch from the admitted object to the injected one.
 *
 * Decisions:
 * - Refusals (inject refuses the object, or a pinned Kata policy would be invalidated) answer `allowed: false` with
 *   HTTP-style code 403 in `status`: the request is well-formed, the mesh forbids the object as it stands.
 * - SECURITY: a pod or pod template carrying a Kata policy or initdata annotation whose spec inject would change is
 *   refused, never mutated: the policy was computed over the un-injected spec, so the mutated pod would not match
 *   its own policy (or worse, the injected containers would run unpinned). `ccmesh generate` injects first and
 *   computes the policy after; such an object carries the injected marker and passes untouched ('pinned'), even when
 *   a fresh injection would differ (the API server's defaults and service-account mounts on the injected containers).
 * - Pods are mutated on CREATE only (the API server rejects most changes to a running pod's spec); workload kinds
 *   with a pod template on CREATE and UPDATE. DELETE and CONNECT, and kinds without a pod template, pass untouched.
 * - `dryRun` requests are answered exactly like real ones (the webhook has no side effects).
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ANNOTATIONS } from '../constants.js';
import { inject, isInjected, podTemplateOf, type InjectOptions, type KubeObject } from '../inject/inject.js';
import { diffJson, isJsonObject, type JsonPatchOp, type JsonValue } from './json-patch.js';

/** apiVersion of the AdmissionReview this webhook speaks (and answers with). */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
/** An admission operation. */
export type AdmissionOperation = (typeof OPERATIONS)[number];

/** The parts of `request` the webhook uses, checked. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly operation: AdmissionOperation;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly dryRun: boolean;
  /** The admitted object; null for DELETE and CONNECT. */
  readonly object: { [key: string]: JsonValue } | null;
}

/** What the webhook decided, for logs and the `result` metric label. */
export type AdmissionOutcome = 'injected' | 'unchanged' | 'pinned' | 'skipped' | 'refused' | 'policy-refused';

/** The `response` of an answered review. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON array of operations; absent when nothing changes. */
  readonly patch?: string;
  readonly status?: { readonly status: 'Failure'; readonly code: number; readonly reason: string; readonly message: string };
}

/** The result of {@link reviewAdmission}: an answer for the API server, or a malformed request (HTTP 400). */
export type AdmissionResult =
  | {
      readonly ok: true;
      readonly outcome: AdmissionOutcome;
      readonly review: { readonly apiVersion: string; readonly kind: 'AdmissionReview'; readonly response: AdmissionResponse };
      /** The operations encoded in `response.patch` (empty when there is none). */
      readonly ops: readonly JsonPatchOp[];
      /** `Kind namespace/name` of the object, for logs (`generateName*` when the name is not set yet). */
      readonly subject: string;
    }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Checks the envelope and the request; returns every problem found. */
export function parseAdmissionReview(body: unknown): { ok: true; request: AdmissionRequest } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isJsonObject(body)) return { ok: false, problems: ['the body is not a JSON object'] };
  if (body.apiVersion !== ADMISSION_API_VERSION) problems.push(`apiVersion is ${JSON.stringify(body.apiVersion ?? null)}, expected "${ADMISSION_API_VERSION}"`);
  if (body.kind !== 'AdmissionReview') problems.push(`kind is ${JSON.stringify(body.kind ?? null)}, expected "AdmissionReview"`);
  const req = body.request;
  if (!isJsonObject(req)) {
    problems.push('request is missing or not an object');
    return { ok: false, problems };
  }
  const uid = req.uid;
  if (typeof uid !== 'string' || uid === '') problems.push('request.uid is missing or not a non-empty string');
  const kind = req.kind;
  const kindOk = isJsonObject(kind) && typeof kind.kind === 'string' && kind.kind !== '' && typeof kind.version === 'string' && typeof (kind.group ?? '') === 'string';
  if (!kindOk) problems.push('request.kind is not an object {group, version, kind}');
  const operation = req.operation;
  if (typeof operation !== 'string' || !(OPERATIONS as readonly string[]).includes(operation)) {
    problems.push(`request.operation is ${JSON.stringify(operation ?? null)}, expected one of ${OPERATIONS.join(', ')}`);
  }
  const needsObject = operation === 'CREATE' || operation === 'UPDATE';
  const object = req.object ?? null;
  if (needsObject && !isJsonObject(object)) problems.push(`request.object is missing or not an object (required for ${String(operation)})`);
  if (object !== null && !isJsonObject(object)) problems.push('request.object is not an object');
  for (const f of ['namespace', 'name'] as const) {
    if (req[f] !== undefined && req[f] !== null && typeof req[f] !== 'string') problems.push(`request.${f} is not a string`);
  }
  if (req.dryRun !== undefined && req.dryRun !== null && typeof req.dryRun !== 'boolean') problems.push('request.dryRun is not a boolean');
  if (problems.length > 0) return { ok: false, problems };
  const k = kind as { [key: string]: JsonValue };
  return {
    ok: true,
    request: {
      uid: uid as string,
      kind: { group: (k.group as string | undefined) ?? '', version: k.version as string, kind: k.kind as string },
      operation: operation as AdmissionOperation,
      namespace: typeof req.namespace === 'string' && req.namespace !== '' ? req.namespace : undefined,
      name: typeof req.name === 'string' && req.name !== '' ? req.name : undefined,
      dryRun: req.dryRun === true,
      object: isJsonObject(object) ? object : null,
    },
  };
}

/** Answers one AdmissionReview body (already JSON-parsed). Throws only for faults other than a refusal. */
export function reviewAdmission(body: unknown, opts: Partial<InjectOptions> = {}): AdmissionResult {
  const parsed = parseAdmissionReview(body);
  if (!parsed.ok) return { ok: false, problems: parsed.problems };
  const req = parsed.request;
  const answer = (outcome: AdmissionOutcome, response: Omit<AdmissionResponse, 'uid'>, ops: readonly JsonPatchOp[] = []): AdmissionResult => ({
    ok: true,
    outcome,
    review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid: req.uid, ...response } },
    ops,
    subject: describeSubject(req),
  });
  const deny = (outcome: AdmissionOutcome, message: string): AdmissionResult =>
    answer(outcome, { allowed: false, status: { status: 'Failure', code: 403, reason: 'Forbidden', message } });

  if (req.object === null || req.operation === 'DELETE' || req.operation === 'CONNECT') return answer('skipped', { allowed: true });
  if (req.kind.kind === 'Pod' && req.kind.group === '' && req.operation !== 'CREATE') return answer('skipped', { allowed: true });

  // The API server sends objects with their TypeMeta; should one lack it, kind/apiVersion come from the request so
  // inject can tell a Pod from a Deployment. The patch is computed against this copy and inject leaves those two
  // fields as they are, so no operation touches them. Pods made by controllers have no name yet (generateName) and
  // may lack metadata.namespace: both are only used to name the object in messages (request.namespace).
  const before = withTypeMeta(req.object, req);
  if (podTemplateOf(before as KubeObject) === undefined) return answer('skipped', { allowed: true });

  let injected: JsonValue;
  try {
    // inject never changes its input (it returns a new object), so `before` stays the admitted object.
    injected = JSON.parse(JSON.stringify(inject(before as KubeObject, opts))) as JsonValue;
  } catch (err) {
    if (err instanceof CcmeshError && (err.code === ErrorCode.K8S_INJECT_REFUSED || err.code === ErrorCode.K8S_POLICY_INVALID)) {
      // inject's message already names the object, the field and the reason.
      return deny('refused', err.message);
    }
    throw err;
  }
  const ops = diffJson(before, injected);
  if (ops.length === 0) return answer('unchanged', { allowed: true });
  const pinned = pinnedPolicyAnnotation(before);
  if (pinned !== undefined) {
    // Injected by `ccmesh generate` before the policy was computed: never touch it. Pods made by a controller from
    // such a template differ from a fresh injection only by what the API server added (defaults, the service-account
    // token mount in every container), and mutating them would break the policy; the policy, not this webhook, is
    // what the TEE enforces.
    if (isInjected(before as KubeObject)) return answer('pinned', { allowed: true }, []);
    return deny(
      'policy-refused',
      `ccmesh refused to inject ${describeSubject(req)}: it carries the ${pinned} annotation, computed over the un-injected spec; ` +
        'injecting now would change the pod the policy pins. Run "ccmesh generate" on the resource first (it injects, then computes the policy) and apply its output.',
    );
  }
  return answer('injected', { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') }, ops);
}

function withTypeMeta(object: { [key: string]: JsonValue }, req: AdmissionRequest): { [key: string]: JsonValue } {
  const copy = structuredClone(object);
  if (typeof copy.kind !== 'string') copy.kind = req.kind.kind;
  if (typeof copy.apiVersion !== 'string') copy.apiVersion = req.kind.group === '' ? req.kind.version : `${req.kind.group}/${req.kind.version}`;
  return copy;
}

/** The Kata policy or initdata annotation key on the resource or its pod template, if either carries one. */
function pinnedPolicyAnnotation(resource: { [key: string]: JsonValue }): string | undefined {
  const metas: JsonValue[] = [resource.metadata ?? null];
  const tpl = podTemplateOf(resource as KubeObject);
  if (tpl !== undefined) metas.push((tpl.template as { [key: string]: JsonValue }).metadata ?? null);
  for (const meta of metas) {
    const ann = isJsonObject(meta) ? meta.annotations : undefined;
    if (!isJsonObject(ann)) continue;
    for (const key of [ANNOTATIONS.kataPolicy, ANNOTATIONS.kataInitData]) {
      if (Object.hasOwn(ann, key)) return key;
    }
  }
  return undefined;
}

function describeSubject(req: AdmissionRequest): string {
  const meta = req.object !== null && isJsonObject(req.object.metadata) ? req.object.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== ''
    ? meta.name
    : typeof meta.generateName === 'string' && meta.generateName !== '' ? `${meta.generateName}*` : (req.name ?? '(unnamed)');
  const ns = req.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : undefined);
  return `${req.kind.kind} ${ns !== undefined ? `${ns}/` : ''}${name}`;
}
