/**
 * `ccmesh generate`: inject Kubernetes YAML and write the manifest's policy entries. The logic lives in
 * `k8s/generate/`; this command adds what a unit may not do: read the inputs and the workspace, validate the
 * merged manifest with the Coordinator's own parser (so `ccmesh set` accepts it), and write everything.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, relative } from 'node:path';
import { launchMeasurements } from '../../../contract/manifest/lookup.js';
import { parseManifest, parseManifestValue } from '../../../contract/manifest/parse.js';
import { manifestTrustWarnings, trustWarningLine } from '../../../contract/manifest/trust-warnings.js';
import type { Manifest, ManifestDocument } from '../../../contract/manifest/types.js';
import { tokeniseFlags } from '../../../lib/config/argv.js';
import { FieldReader } from '../../../lib/config/fields.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CcmeshError, ConfigError, describeError, ErrorCode } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { ANNOTATIONS } from '../../../k8s/constants.js';
import { generate, type GenerateInput, type GenerateResult } from '../../../k8s/generate/generate.js';
import { NO_POLICY_GENERATOR, ProcessPolicyGenerator } from '../../../k8s/generate/genpolicy.js';
import { mergeEntries } from '../../../k8s/generate/manifest-entries.js';
import { type PinnedMeasurements, pinMeasurements } from '../../../k8s/generate/reference-measurements.js';
import { DEFAULT_CLUSTER_DOMAIN } from '../../../k8s/generate/sans.js';
import { checkPolicyDocuments, manifestDocumentText, readManifestDocumentFile, writeWorkspace } from '../../../k8s/generate/workspace.js';
import { DEFAULT_INJECT_OPTIONS, type InjectOptions } from '../../../k8s/inject/inject.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { measurementFlag } from '../../../lib/config/flag-values.js';
import { MAX_INPUT_BYTES, readInput } from '../../read-input.js';
import { showPath, writingUserPath } from '../../user-paths.js';
import { readWorkspaceMeshOwner, workspacePaths } from '../../workspace.js';
import { makeDirs } from '../../../lib/fs/make-dirs.js';

const FLAGS = {
  output: { type: 'string', short: 'o' },
  workspace: { type: 'string' },
  namespace: { type: 'string' },
  'cluster-domain': { type: 'string' },
  image: { type: 'string' },
  coordinator: { type: 'string' },
  'coordinator-policy': { type: 'string' },
  'mesh-owner': { type: 'string' },
  'coordinator-measurement': { type: 'string', multiple: true },
  tee: { type: 'string' },
  genpolicy: { type: 'string' },
  'genpolicy-arg': { type: 'string', multiple: true },
  'no-genpolicy': { type: 'boolean' },
  'snp-measurement': { type: 'string', multiple: true },
  'tdx-mrtd': { type: 'string', multiple: true },
  help: { type: 'boolean' },
} as const;

const TEES = ['auto', 'configfs-tsm', 'sev-guest', 'tdx-guest'] as const;
const YAML_RE = /\.ya?ml$/;

/** Usage of `ccmesh generate`. */
export const GENERATE_USAGE = `Usage:
  ccmesh generate [-o DIR] [--workspace DIR] [--namespace default] [--cluster-domain ${DEFAULT_CLUSTER_DOMAIN}]
                  [--image IMAGE] [--coordinator HOST:PORT] [--coordinator-policy HASH [--mesh-owner HEX32]]
                  [--tee auto|configfs-tsm|sev-guest|tdx-guest]
                  [--genpolicy BINARY] [--genpolicy-arg ARG]... [--no-genpolicy]
                  [--snp-measurement HEX48]... [--tdx-mrtd HEX48]...  FILE|DIR...

Injects the ccmesh initializer and sidecar into every pod template of the YAML files (a DIR means every *.yaml
and *.yml below it), runs genpolicy on the injected files when it is on PATH, and writes one manifest policy
entry per meshed pod resource that carries a Kata policy (${ANNOTATIONS.kataPolicy}) or initdata
(${ANNOTATIONS.kataInitData}) annotation into WORKSPACE/manifest.json (default "."), with its document in
WORKSPACE/policies/<hash>. An entry replaces the earlier entry with the same workload-secret id; other entries
are kept. SANs: the resource name and the Services that select it, as n, n.ns, n.ns.svc, n.ns.svc.DOMAIN
(StatefulSets also *.SERVICE.ns.svc...). Workload-secret id: ${ANNOTATIONS.workloadSecretId}, or
<group>/<version>/<kind>/<namespace>/<name> (group "core" for apiVersion v1).
  -o, --output DIR  write the YAML there (same relative names); default: rewrite the inputs in place
  --image, --coordinator, --tee  settings of the injected containers (defaults: ${DEFAULT_INJECT_OPTIONS.image},
                    ${DEFAULT_INJECT_OPTIONS.coordinator}, ${DEFAULT_INJECT_OPTIONS.tee})
  --coordinator-policy HASH  pin the Coordinator's policy hash in every initializer (pods then verify the
                    Coordinator's evidence before attesting to it) together with the workspace's mesh owner
                    (--mesh-owner; default WORKSPACE/mesh-owner, or before the first set the pin of the manifest's
                    keys), so a Coordinator whose store was wiped and re-set by someone else is refused, and its
                    launch measurements (--coordinator-measurement HEX48, repeatable; default every measurement the
                    workspace manifest's reference values name)
  --genpolicy BINARY, --genpolicy-arg=ARG  how genpolicy is run: BINARY [ARG...] -y FILE (default: genpolicy
                    when it is on PATH; a BINARY named here must exist; write --genpolicy-arg=--flag for
                    arguments that start with --). Progress is printed on stderr while it runs
  --no-genpolicy    don't run genpolicy even if it is installed
  --snp-measurement HEX48, --tdx-mrtd HEX48  the launch measurement of the pod VM image (SEV-SNP MEASUREMENT,
                    TDX MRTD; repeatable): added to every referenceValues.snp / .tdx alternative (one is created
                    when the list is empty; an alternative's "allowUnmeasured" is dropped). The manifest must pin
                    one: a policy hash proves nothing about an image the host chose
With "-" the YAML is read from standard input and the injected YAML written to standard output (the report goes
to stderr), as in "ccmesh generate --workspace owner/ - < app.yaml | kubectl apply -f -".
Every resource that cannot be injected is reported (resource and problem), then generate exits 64 having written
nothing. ${ANNOTATIONS.inject} takes "true"/"enabled" or "false"/"disabled"; an unknown ccmesh.dev/* annotation
is reported as a warning (with the key it most likely meant).
Comments inside rewritten documents are lost; documents that need no change are kept as they are.
`;

interface GenerateFlags {
  readonly paths: readonly string[];
  readonly output: string | undefined;
  readonly workspace: string;
  readonly namespace: string;
  readonly clusterDomain: string;
  readonly inject: { -readonly [K in keyof InjectOptions]?: InjectOptions[K] };
  readonly genpolicy: string | false;
  /** The binary was named with --genpolicy: it must exist (the default may be absent). */
  readonly genpolicyNamed: boolean;
  readonly genpolicyArgs: readonly string[];
  readonly measurements: PinnedMeasurements;
}

function readFlags(argv: readonly string[]): GenerateFlags {
  const tok = tokeniseFlags(argv, FLAGS);
  const r = new FieldReader('flags for "ccmesh generate"', tok.values, '--');
  for (const issue of tok.issues) r.issue(issue.field, issue.value, issue.expected, { bare: true });
  if (tok.positionals.length === 0) r.issue('FILE|DIR', undefined, 'at least one YAML file or directory argument ("-" reads standard input)', { bare: true });
  const tee = r.oneOf('tee', TEES, DEFAULT_INJECT_OPTIONS.tee);
  const dns = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
  const namespace = r.raw('namespace') ?? 'default';
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(namespace)) r.issue('namespace', namespace, 'a namespace name (a lowercase DNS label)');
  const clusterDomain = r.raw('cluster-domain') ?? DEFAULT_CLUSTER_DOMAIN;
  if (!dns.test(clusterDomain)) r.issue('cluster-domain', clusterDomain, 'a lowercase DNS name (e.g. cluster.local)');
  if (tok.positionals.includes('-') && tok.positionals.length > 1) r.issue('FILE|DIR', '-', 'either "-" (standard input) alone or files and directories', { bare: true });
  const measurements = { snp: measurementFlag(r, tok, 'snp-measurement'), tdx: measurementFlag(r, tok, 'tdx-mrtd') };
  const coordinatorMeasurements = measurementFlag(r, tok, 'coordinator-measurement');
  r.finish();
  const inject: Partial<InjectOptions> = {
    ...(r.raw('image') !== undefined ? { image: r.raw('image')! } : {}),
    ...(r.raw('coordinator') !== undefined ? { coordinator: r.raw('coordinator')! } : {}),
    ...(r.raw('coordinator-policy') !== undefined ? { coordinatorPolicy: r.raw('coordinator-policy')! } : {}),
    ...(r.raw('mesh-owner') !== undefined ? { meshOwner: r.raw('mesh-owner')! } : {}),
    ...(coordinatorMeasurements.length > 0 ? { coordinatorMeasurements } : {}),
    tee: tee!,
  };
  return {
    paths: tok.positionals,
    output: r.raw('output'),
    workspace: r.raw('workspace') ?? '.',
    namespace,
    clusterDomain,
    inject,
    genpolicy: r.raw('no-genpolicy') === 'true' ? false : (r.raw('genpolicy') ?? 'genpolicy'),
    genpolicyNamed: r.raw('no-genpolicy') !== 'true' && r.raw('genpolicy') !== undefined,
    genpolicyArgs: tok.lists['genpolicy-arg'] ?? [],
    measurements,
  };
}

/** The YAML files below `dir`, sorted, as paths relative to it (hidden entries skipped). */
async function yamlFilesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && YAML_RE.test(e.name)) out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out;
}

/** Input files: name (output-relative) and source path. */
async function collectInputs(paths: readonly string[]): Promise<{ name: string; path: string }[]> {
  const out: { name: string; path: string }[] = [];
  for (const p of paths) {
    const st = await stat(p).catch((err: unknown) => {
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read ${p} (${describeError(err)})`, { cause: err });
    });
    if (st.isDirectory()) {
      const found = await yamlFilesBelow(p);
      if (found.length === 0) throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `${p} holds no *.yaml or *.yml files`);
      out.push(...found.map((f) => ({ name: f, path: join(p, f) })));
    } else {
      out.push({ name: basename(p), path: p });
    }
  }
  const seen = new Map<string, string>();
  for (const f of out) {
    const other = seen.get(f.name);
    if (other !== undefined) throw new CcmeshError(ErrorCode.USAGE, `${other} and ${f.path} would both be written as ${f.name}; generate them in separate runs`);
    seen.set(f.name, f.path);
  }
  return out;
}

function printReport(result: GenerateResult, io: CliIo): void {
  const lines: string[] = [];
  if (result.genpolicy === 'absent') {
    lines.push(
      'genpolicy is not on PATH: policies must be supplied. Resources without a',
      `${ANNOTATIONS.kataPolicy} or ${ANNOTATIONS.kataInitData} annotation get no manifest entry.`,
    );
  } else if (result.genpolicy === 'ran') {
    lines.push('genpolicy annotated the injected resources.');
  }
  for (const r of result.reports) {
    const head = `${r.ref.kind} ${r.ref.namespace}/${r.ref.name}`;
    if (r.entry) {
      const role = r.entry.role === '' ? '' : ` role ${r.entry.role}`;
      lines.push(`${head}: policy ${r.entry.policyHash.slice(0, 12)} id ${r.entry.workloadSecretId}${role}`, `  sans: ${r.entry.sans.join(', ')}`);
      for (const mount of Object.keys(r.entry.configDigests)) lines.push(`  config pinned: ${mount} (${Object.keys(r.entry.configDigests[mount]!).length} files)`);
    } else {
      lines.push(`${head}: skipped: ${r.skipped ?? ''}`);
    }
    for (const w of r.warnings) lines.push(`  warning: ${w}`);
  }
  io.stdout(lines.join('\n') + '\n');
}

/** Runs `ccmesh generate`. */
export async function generateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(GENERATE_USAGE);
    return EXIT.ok;
  }
  const flags = readFlags(argv);
  const runGenpolicy = await genpolicyPresent(flags);
  const ws = workspacePaths(flags.workspace);
  // Read once, its shape checked: a malformed manifest.json is refused naming the field before anything runs.
  const manifestBefore = await readManifestDocumentFile(ws.manifest);
  if (flags.inject.coordinatorPolicy !== undefined) {
    // Pods that verify the Coordinator pin the workspace's mesh owner (its mesh-owner file after the first set, or
    // the pin of its manifest's keys before it) and the launch measurements its reference values name: the
    // Coordinator runs on the pods' VM image. Flags win over both.
    const workspaceManifest = parseWorkspaceManifest(manifestBefore, ws.manifest);
    flags.inject.meshOwner ??= Buffer.from((await readWorkspaceMeshOwner(flags.workspace, workspaceManifest)).pin).toString('hex');
    if (flags.inject.coordinatorMeasurements === undefined) {
      const found = launchMeasurements(workspaceManifest);
      if (found.length === 0) {
        throw new CcmeshError(ErrorCode.USAGE, `--coordinator-policy: ${ws.manifest} names no launch measurement to pin for the Coordinator; pass --coordinator-measurement HEX48`);
      }
      flags.inject.coordinatorMeasurements = found;
    }
  }
  const fromStdin = flags.paths.length === 1 && flags.paths[0] === '-';
  if (flags.output !== undefined) await checkOutputDir(flags.output);
  const files = fromStdin ? [{ name: STDIN_NAME, path: '-' }] : await collectInputs(flags.paths);
  const inputs: GenerateInput[] = [];
  for (const f of files) {
    const text = f.path === '-' ? await readStdin(io) : Buffer.from(await readInput('FILE', f.path)).toString('utf8');
    inputs.push({ name: f.name, text });
  }

  const scratchDir = await mkdtemp(join(tmpdir(), 'ccmesh-generate-'));
  let result: GenerateResult;
  try {
    const policyGenerator = runGenpolicy && flags.genpolicy !== false ? new ProcessPolicyGenerator(flags.genpolicy, flags.genpolicyArgs) : NO_POLICY_GENERATOR;
    result = await generate(inputs, { namespace: flags.namespace, clusterDomain: flags.clusterDomain, inject: flags.inject }, {
      policyGenerator,
      scratchDir,
      ...(runGenpolicy ? { progress: (line: string) => io.stderr(`${line}\n`) } : {}),
    });
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }

  // Validate before writing anything: the merged manifest must be one the Coordinator accepts.
  const merged = mergeEntries(manifestBefore, result.entries);
  const pinned = pinMeasurements(merged.manifest, flags.measurements);
  const manifestText = manifestDocumentText(pinned.manifest);
  let policyHashes: string[];
  let manifest: Manifest;
  try {
    manifest = parseManifest(manifestText);
    policyHashes = Object.keys(manifest.policies);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`the manifest generate would write to ${ws.manifest}`, err.issues);
    throw err;
  }

  // Nothing is reported as done before it is: the YAML and the workspace are written first, the report follows.
  const wrote: string[] = [];
  const reportTo = fromStdin && flags.output === undefined ? io.stderr : io.stdout;
  for (let i = 0; i < files.length; i++) {
    const text = result.outputs[i]!.text;
    if (fromStdin && flags.output === undefined) {
      // "-": the injected YAML goes to standard output (unchanged input as it was), the report to stderr.
      io.stdout(text ?? inputs[i]!.text);
      continue;
    }
    const target = flags.output === undefined ? files[i]!.path : join(flags.output, files[i]!.name);
    if (text === undefined && flags.output === undefined) continue; // unchanged in place
    const data = text ?? inputs[i]!.text;
    await writingUserPath(flags.output === undefined ? 'FILE' : '--output', flags.output ?? target, async () => {
      await makeDirs(dirname(target));
      if ((await readFile(target, 'utf8').catch(() => undefined)) === data) return;
      await writeFileAtomic(target, data, 0o644);
      wrote.push(target);
    });
  }
  const { written, removed } = await writingUserPath('--workspace', flags.workspace, () => writeWorkspace(ws, manifestText, result.entries, merged.removedHashes));
  printReport(result, { ...io, stdout: reportTo });
  const out = [
    ...wrote.map((p) => `wrote ${p}`),
    ...written.map((p) => `wrote ${p}`),
    ...removed.map((p) => `removed ${p} (replaced entry)`),
    `manifest ${ws.manifest}: ${result.entries.length} generated entr${result.entries.length === 1 ? 'y' : 'ies'}, ${policyHashes.length} in total`,
    ...pinned.changes.map((c) => `  pinned ${c}`),
  ];
  reportTo(out.join('\n') + '\n');
  for (const w of manifestTrustWarnings(manifest)) io.stderr(trustWarningLine(w, ws.manifest));
  for (const p of await checkPolicyDocuments(ws.policies, policyHashes)) io.stderr(`warning: ${p}\n`);
  return EXIT.ok;
}

/** The workspace manifest as the Coordinator parses it (its pins are read from it), errors naming the file. */
function parseWorkspaceManifest(doc: ManifestDocument, path: string): Manifest {
  try {
    return parseManifestValue(doc);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`the workspace manifest ${path}`, err.issues);
    throw err;
  }
}

/** The name standard input's YAML is generated under (it appears in reports and, with --output, as the file name). */
const STDIN_NAME = 'stdin.yaml';

/** All of standard input as UTF-8, refused beyond the input cap. */
async function readStdin(io: CliIo): Promise<string> {
  const stdin = io.stdin?.();
  if (stdin === undefined) throw new CcmeshError(ErrorCode.USAGE, '"-" reads standard input, which this invocation does not have');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > MAX_INPUT_BYTES) throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `- (standard input): larger than the ${MAX_INPUT_BYTES}-byte limit`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether `binary` is an executable file: a path (with a "/") as it is, a bare name on PATH. */
async function isExecutable(binary: string): Promise<boolean> {
  const candidates = binary.includes('/') ? [binary] : (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, binary));
  for (const c of candidates) {
    const st = await stat(c).catch(() => undefined);
    if (st?.isFile() && (await access(c, constants.X_OK).then(() => true, () => false))) return true;
  }
  return false;
}

/**
 * Whether genpolicy runs. A `--genpolicy BINARY` named on the command line must be there (exit 64 when it is not);
 * only the default may be absent (then generate says policies must be supplied, and prints no progress).
 */
async function genpolicyPresent(flags: GenerateFlags): Promise<boolean> {
  if (flags.genpolicy === false) return false;
  if (await isExecutable(flags.genpolicy)) return true;
  if (!flags.genpolicyNamed) return false;
  const binary = flags.genpolicy;
  throw new CcmeshError(
    ErrorCode.USAGE,
    binary.includes('/') ? `--genpolicy ${showPath(binary)}: no executable file there (install genpolicy, or leave --genpolicy out to skip it when it is absent)` : `--genpolicy ${binary}: not found on PATH (give its path, or leave --genpolicy out to skip it when it is absent)`,
  );
}

/** `--output` must be a directory or not exist yet (it is created); anything else is refused before any work. */
async function checkOutputDir(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (st !== undefined && !st.isDirectory()) {
    throw new CcmeshError(ErrorCode.OUTPUT_UNWRITABLE, `--output ${showPath(dir)}: not a directory (the YAML is written there under the input names)`);
  }
}
