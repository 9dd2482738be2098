/**
 * `ccmesh generate` without the file system of the workspace: YAML texts in → injected YAML texts, one manifest
 * policy entry per meshed pod resource with a policy, and a report per resource. Three stages:
 * 1. inject every document (pure; non-pod documents pass through untouched),
 * 2. optionally let genpolicy annotate the injected files (in a scratch directory, so nothing the user owns is
 *    written before every check has passed),
 * 3. read each pod template's policy identity and build its entry (pure).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { readPodAnnotations, templateAnnotations, unknownAnnotationWarnings } from '../annotations.js';
import { ANNOTATIONS } from '../constants.js';
import { inject, podTemplateOf, POD_SPAWNING_KINDS, type InjectOptions } from '../inject/inject.js';
import { APP_NAME } from '../install/pod-parts.js';
import { readPolicyIdentity } from '../policy/identity.js';
import { buildConfigDigests, configSourceKey, type ConfigSources } from './config-digests.js';
import type { PolicyGenerator } from './genpolicy.js';
import type { GeneratedEntry } from './manifest-entries.js';
import { isObj, objAt, resourceRef, strAt, type Obj, type ResourceRef } from './resource.js';
import { buildSans, selectorMatches } from './sans.js';
import { defaultWorkloadSecretId, isSpiffePath } from './workload-id.js';
import { parseYamlStream, renderYamlStream } from './yaml-stream.js';

/** One input YAML file: `name` is its output-relative path, also used in messages. */
export interface GenerateInput {
  readonly name: string;
  readonly text: string;
}

/** Settings of a run. */
export interface GenerateConfig {
  /** Namespace of documents that name none. */
  readonly namespace: string;
  readonly clusterDomain: string;
  readonly inject: Partial<InjectOptions>;
}

/** Live parts of a run. */
export interface GenerateRuntime {
  readonly policyGenerator: PolicyGenerator;
  /** An empty private directory for genpolicy's working copies. */
  readonly scratchDir: string;
  /** Progress lines while genpolicy runs (one per file, and one every {@link PROGRESS_EVERY_MS} while it runs). */
  readonly progress?: (line: string) => void;
}

/** How often a still-running genpolicy is reported through {@link GenerateRuntime.progress}. */
export const PROGRESS_EVERY_MS = 10_000;

/** Error codes of a resource refusal: collected over every input, then reported together. */
const REFUSAL_CODES: ReadonlySet<string> = new Set([ErrorCode.K8S_INJECT_REFUSED, ErrorCode.K8S_POLICY_INVALID]);

/** The outcome for one pod-spawning resource. */
export interface ResourceReport {
  readonly ref: ResourceRef;
  /** Set when the resource got a manifest entry. */
  readonly entry?: GeneratedEntry;
  /** Why it got none. */
  readonly skipped?: string;
  readonly warnings: readonly string[];
}

/** One output file; `text` is undefined when the file is unchanged (the caller leaves it as it is). */
export interface GenerateOutput {
  readonly name: string;
  readonly text: string | undefined;
}

/** Everything a run produced. */
export interface GenerateResult {
  readonly outputs: readonly GenerateOutput[];
  readonly reports: readonly ResourceReport[];
  readonly entries: readonly GeneratedEntry[];
  /** `absent` when genpolicy was needed but is not installed. */
  readonly genpolicy: 'ran' | 'absent' | 'not-needed';
}

interface InjectedFile {
  readonly name: string;
  text: string | undefined;
  /** Identity keys (`Kind/ns/name`) of pod resources that inject changed while they carried a policy. */
  readonly stalePolicies: Set<string>;
  readonly hasPods: boolean;
}

const refKey = (r: ResourceRef): string => `${r.kind}/${r.namespace}/${r.name}`;

/**
 * Whether a pod template is one of ccmesh's own control-plane pods other than the Coordinator (the injector): the
 * install labels them `app.kubernetes.io/name: ccmesh`, and the webhook's objectSelector keeps them out of the mesh
 * the same way. They are left as they are and get no entry, so `ccmesh generate` can run over the output of
 * `ccmesh install --print` to put the Coordinator pod's policy into the manifest.
 */
function isOwnControlPlanePod(template: Obj): boolean {
  const labels = objAt(objAt(template, 'metadata'), 'labels');
  return labels['app.kubernetes.io/name'] === APP_NAME && templateAnnotations(template)[ANNOTATIONS.podRole] !== 'coordinator';
}

/**
 * Stage 1: inject the documents of one file. A document inject refuses is kept as it is and its refusal added to
 * `refusals`, so one run reports every refused resource.
 */
function injectFile(input: GenerateInput, config: GenerateConfig, refusals: CcmeshError[]): InjectedFile {
  const docs = parseYamlStream(input.text, input.name);
  const stale = new Set<string>();
  let hasPods = false;
  const injected = docs.map((d) => {
    let out: typeof d.data;
    const template = podTemplateOf(d.data)?.template;
    if (isObj(template) && isOwnControlPlanePod(template)) return d.data;
    try {
      out = inject(d.data, config.inject);
    } catch (err) {
      if (!(err instanceof CcmeshError) || !REFUSAL_CODES.has(err.code)) throw err;
      // inject names the resource; the file it came from helps when several are generated at once.
      refusals.push(new CcmeshError(err.code, `${input.name}: ${err.message}`, { cause: err }));
      return d.data;
    }
    const t = podTemplateOf(d.data);
    if (t && POD_SPAWNING_KINDS.includes(String(d.data.kind))) {
      hasPods = true;
      const ann = templateAnnotations(t.template);
      const hadPolicy = ann[ANNOTATIONS.kataPolicy] !== undefined || ann[ANNOTATIONS.kataInitData] !== undefined;
      if (hadPolicy && !isDeepStrictEqual(out, d.data)) stale.add(refKey(resourceRef(d.data, config.namespace, input.name)));
    }
    return out;
  });
  return { name: input.name, text: renderYamlStream(docs, injected), stalePolicies: stale, hasPods };
}

/** The one refusal as it was, or one K8S_INJECT_REFUSED listing every refusal (each names its resource). */
function throwRefusals(refusals: readonly CcmeshError[]): void {
  if (refusals.length === 0) return;
  if (refusals.length === 1) throw refusals[0]!;
  throw new CcmeshError(ErrorCode.K8S_INJECT_REFUSED, `${refusals.length} resources refused:\n${refusals.map((e) => `- ${e.message.replace(/\n/g, '\n  ')}`).join('\n')}`);
}

/** Stage 2: genpolicy over copies of the files with pods; returns whether it ran. */
async function annotatePolicies(files: readonly InjectedFile[], inputs: readonly GenerateInput[], runtime: GenerateRuntime): Promise<boolean> {
  let i = 0;
  const withPods = files.filter((f) => f.hasPods);
  for (const f of withPods) {
    const copy = join(runtime.scratchDir, `${i++}.yaml`);
    const before = f.text ?? inputs.find((x) => x.name === f.name)!.text;
    await writeFileAtomic(copy, before, 0o600);
    const annotated = await withProgress(runtime, `${f.name} (${i} of ${withPods.length})`, () => runtime.policyGenerator.annotate(copy));
    if (!annotated) return false;
    const after = await readFile(copy, 'utf8');
    f.text = after === before ? f.text : after;
  }
  return true;
}

/** Runs `fn` (one genpolicy run), reporting its start, every {@link PROGRESS_EVERY_MS} while it runs, and its end. */
async function withProgress(runtime: GenerateRuntime, what: string, fn: () => Promise<boolean>): Promise<boolean> {
  const say = runtime.progress;
  if (say === undefined) return fn();
  const started = Date.now();
  const seconds = (): string => ((Date.now() - started) / 1000).toFixed(1);
  say(`genpolicy: ${what}…`);
  const timer = setInterval(() => say(`genpolicy: still running on ${what} (${seconds()} s)`), PROGRESS_EVERY_MS);
  timer.unref();
  try {
    const ran = await fn();
    if (ran) say(`genpolicy: ${what} done in ${seconds()} s`);
    return ran;
  } finally {
    clearInterval(timer);
  }
}

/** The ConfigMaps, Secrets and Services of the final documents. */
function collectObjects(docs: readonly { data: Obj; file: string }[], namespace: string): { sources: ConfigSources; services: { ns: string; name: string; selector: Obj }[] } {
  const sources = new Map<string, Obj>();
  const services: { ns: string; name: string; selector: Obj }[] = [];
  for (const { data, file } of docs) {
    const kind = strAt(data, 'kind');
    if (kind !== 'ConfigMap' && kind !== 'Secret' && kind !== 'Service') continue;
    const ref = resourceRef(data, namespace, file);
    if (kind === 'Service') services.push({ ns: ref.namespace, name: ref.name, selector: objAt(objAt(data, 'spec'), 'selector') });
    else sources.set(configSourceKey(kind, ref.namespace, ref.name), data);
  }
  return { sources, services };
}

/** Stage 3: the report (and entry) of one pod-spawning resource. */
function reportFor(data: Obj, ref: ResourceRef, config: GenerateConfig, objects: ReturnType<typeof collectObjects>, stale: boolean): ResourceReport {
  const template = podTemplateOf(data)!.template;
  if (isOwnControlPlanePod(template)) return { ref, skipped: `ccmesh's own control-plane pod (app.kubernetes.io/name: ${APP_NAME}), never in the mesh`, warnings: [] };
  const ann = readPodAnnotations(template, ref.where);
  const warnings = unknownAnnotationWarnings(template);
  if (!ann.inject) return { ref, skipped: `not in the mesh (${ANNOTATIONS.inject}: "${String(templateAnnotations(template)[ANNOTATIONS.inject])}")`, warnings };
  const identity = readPolicyIdentity(templateAnnotations(template), ref.where);
  if (!identity) return { ref, skipped: `no policy (no ${ANNOTATIONS.kataPolicy} or ${ANNOTATIONS.kataInitData} annotation)`, warnings };
  if (stale) warnings.push('its policy annotation predates injection: the policy no longer matches the injected pod spec and must be regenerated (run genpolicy on the output)');
  const workloadSecretId = ann.workloadSecretId ?? defaultWorkloadSecretId(ref.apiVersion, ref.kind, ref.namespace, ref.name);
  if (!isSpiffePath(workloadSecretId)) {
    throw new CcmeshError(ErrorCode.K8S_POLICY_INVALID, `${ref.where}: workload-secret id ${JSON.stringify(workloadSecretId)} is not a SPIFFE path ('/'-separated segments of letters, digits, '.', '-', '_'); set ${ANNOTATIONS.workloadSecretId}`);
  }
  const labels = objAt(objAt(template, 'metadata'), 'labels');
  const services = objects.services.filter((s) => s.ns === ref.namespace && selectorMatches(s.selector, labels)).map((s) => s.name);
  const headless = ref.kind === 'StatefulSet' ? strAt(objAt(data, 'spec'), 'serviceName') : undefined;
  const sans = buildSans({ name: ref.name, namespace: ref.namespace, clusterDomain: config.clusterDomain, services, ...(headless ? { headlessService: headless } : {}) });
  if (sans.length === 0) {
    throw new CcmeshError(ErrorCode.K8S_POLICY_INVALID, `${ref.where}: no DNS name for its certificate: the name ${JSON.stringify(ref.name)} has dots (it would spell other Services' names, so it gives none) and no Service in the input selects its pods; add the Service, or rename the resource to a single DNS label`);
  }
  const digests = buildConfigDigests(template, ann.configVolumes, ref.namespace, objects.sources);
  warnings.push(...digests.warnings);
  const entry: GeneratedEntry = {
    where: ref.where,
    policyHash: identity.hash,
    document: identity.document,
    sans,
    workloadSecretId,
    role: ann.podRole,
    configDigests: digests.digests,
  };
  return { ref, entry, warnings };
}

/**
 * Runs the three stages over `inputs`. Throws CcmeshError INPUT_MALFORMED for YAML that does not parse, and one
 * K8S_INJECT_REFUSED listing every resource inject or the policy stage refused (each naming the resource and the
 * problem) — before genpolicy runs when inject refused any.
 */
export async function generate(inputs: readonly GenerateInput[], config: GenerateConfig, runtime: GenerateRuntime): Promise<GenerateResult> {
  const refusals: CcmeshError[] = [];
  const files = inputs.map((i) => injectFile(i, config, refusals));
  throwRefusals(refusals);
  const needed = files.some((f) => f.hasPods);
  const ran = needed ? await annotatePolicies(files, inputs, runtime) : false;
  const docs = files.flatMap((f, i) => parseYamlStream(f.text ?? inputs[i]!.text, f.name).map((d) => ({ data: d.data, file: f.name, stale: f.stalePolicies })));
  const objects = collectObjects(docs, config.namespace);
  const reports: ResourceReport[] = [];
  for (const { data, file, stale } of docs) {
    if (!POD_SPAWNING_KINDS.includes(String(data.kind)) || !isObj(podTemplateOf(data)?.template)) continue;
    const ref = resourceRef(data, config.namespace, file);
    try {
      reports.push(reportFor(data, ref, config, objects, !ran && stale.has(refKey(ref))));
    } catch (err) {
      if (!(err instanceof CcmeshError) || !REFUSAL_CODES.has(err.code)) throw err;
      refusals.push(err);
    }
  }
  throwRefusals(refusals);
  return {
    outputs: files.map((f) => ({ name: f.name, text: f.text })),
    reports,
    entries: reports.flatMap((r) => (r.entry ? [r.entry] : [])),
    genpolicy: !needed ? 'not-needed' : ran ? 'ran' : 'absent',
  };
}
