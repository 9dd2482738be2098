/**
 * `ccmesh install --print [--values FILE] [--namespace NS] [--workspace DIR] [pin flags]`: prints the install manifests
 * as YAML for `kubectl apply -f -`, with the Coordinator pins every injected pod checks (policy hash, mesh owner,
 * launch measurements) taken from the operator's workspace. ccmesh has no Kubernetes client for installing, so
 * without `--print` (or `--print-pins`, the pins as a Helm values file) it says so (exit 64).
 */
import { stringify, parse } from 'yaml';
import { coordinatorPolicies, launchMeasurements } from '../../../contract/manifest/lookup.js';
import { buildInstall, renderInstall } from '../../../k8s/install/build.js';
import { DEFAULT_VALUES, parseInstallValues, UNPINNED_WARNING, withInjectorPins, type InjectorPins, type InstallValues } from '../../../k8s/install/values.js';
import { INSTALL_NAMES } from '../../../k8s/constants.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readInput } from '../../read-input.js';
import { showPath } from '../../user-paths.js';
import { measurementFlag } from '../../../lib/config/flag-values.js';
import { readWorkspaceManifest, readWorkspaceMeshOwner, workspacePaths } from '../../workspace.js';
import { VERSION } from '../../../lib/version.js';

const FLAGS = {
  print: { type: 'boolean' },
  'print-pins': { type: 'boolean' },
  values: { type: 'string' },
  namespace: { type: 'string' },
  workspace: { type: 'string' },
  'coordinator-policy': { type: 'string' },
  'mesh-owner': { type: 'string' },
  'coordinator-measurement': { type: 'string', multiple: true },
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh install`. */
export const INSTALL_USAGE = `Usage:
  ccmesh install --print [--values FILE] [--namespace ${INSTALL_NAMES.namespace}] [--workspace DIR]
                 [--coordinator-policy HASH] [--mesh-owner HEX32] [--coordinator-measurement HEX48]... | kubectl apply -f -
  ccmesh install --print-pins [--values FILE] [--workspace DIR] [--coordinator-policy HASH] [--mesh-owner HEX32]
                 [--coordinator-measurement HEX48]...

Prints the Kubernetes install manifests as YAML: the Namespace, the Coordinator StatefulSet with its Services,
PersistentVolumeClaim template and PodDisruptionBudget, the sidecar injector Deployment, Service, RBAC and
MutatingWebhookConfiguration, and optional ServiceMonitors. Every object is checked against the Kubernetes schema.
  --values FILE   YAML values (the same keys as charts/ccmesh/values.yaml); unknown keys are errors
  --namespace NS  namespace of the install (default ${INSTALL_NAMES.namespace})
  --workspace DIR the operator's workspace (ccmesh manifest init) fills the Coordinator pins: injector.coordinatorPolicy
                  with the key of DIR/manifest.json's one policies entry with role "coordinator";
                  injector.meshOwner with DIR/mesh-owner (written by the first ccmesh set), or before the first set
                  the pin of the manifest's owner keys; injector.coordinatorMeasurements with every launch
                  measurement the manifest's referenceValues name. Injected pods then verify the Coordinator and the
                  owner of its mesh before they send it their evidence.
  --coordinator-policy HASH, --mesh-owner HEX32 (64 lowercase hex digits each), --coordinator-measurement HEX48
                  (repeatable) set that pin over the workspace and the values file
  --print-pins    print only the three pins as a values file, for "helm install -f"
Without pins (no workspace, values or flags) pods do not verify the Coordinator; install warns on stderr.
ccmesh does not talk to the Kubernetes API to install; pipe the output to kubectl, or use the Helm chart.
`;

const PIN = /^[0-9a-f]{64}$/;

/** Prints the install manifests (or the pins). */
export async function installCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(INSTALL_USAGE);
    return EXIT.ok;
  }
  const { r, tok } = readCommandFlags('install', argv, FLAGS);
  const printPins = r.raw('print-pins') === 'true';
  if (r.raw('print') !== 'true' && !printPins) {
    r.issue('print', undefined, 'the --print flag: ccmesh has no Kubernetes client and cannot apply the install itself; run "ccmesh install --print | kubectl apply -f -" or use the Helm chart');
  }
  if (r.raw('print') === 'true' && printPins) r.issue('print-pins', 'true', 'either --print or --print-pins, not both');
  const namespace = r.raw('namespace') ?? INSTALL_NAMES.namespace;
  const valuesFile = r.raw('values');
  const workspace = r.raw('workspace');
  if (workspace === '') r.issue('workspace', '', 'a workspace directory (ccmesh manifest init --dir DIR)');
  const flagPins: { -readonly [K in keyof InjectorPins]: InjectorPins[K] } = {};
  for (const [flag, key, what] of [['coordinator-policy', 'coordinatorPolicy', 'the Coordinator\'s policy hash'], ['mesh-owner', 'meshOwner', 'the mesh owner pin']] as const) {
    const v = r.raw(flag);
    if (v !== undefined && !PIN.test(v)) r.issue(flag, v, `64 lowercase hex digits (${what})`);
    else if (v !== undefined) flagPins[key] = v;
  }
  const measurements = measurementFlag(r, tok, 'coordinator-measurement');
  if (measurements.length > 0) flagPins.coordinatorMeasurements = measurements;
  r.finish();

  let values = valuesFile === undefined ? DEFAULT_VALUES : parseInstallValues(await readValuesFile(valuesFile), valuesFile);
  const fromWorkspace = workspace === undefined ? {} : await readWorkspacePins(workspace, flagPins, io);
  const pins = { ...fromWorkspace, ...flagPins };
  if (Object.keys(pins).length > 0) {
    const sources = [
      ...(valuesFile !== undefined ? [`--values ${valuesFile}`] : []),
      ...(workspace !== undefined ? [`--workspace ${workspace}`] : []),
      ...(flagPins.coordinatorPolicy !== undefined ? ['--coordinator-policy'] : []),
      ...(flagPins.meshOwner !== undefined ? ['--mesh-owner'] : []),
      ...(flagPins.coordinatorMeasurements !== undefined ? ['--coordinator-measurement'] : []),
    ];
    values = withInjectorPins(values, pins, sources.join(', '));
  }
  if (printPins) return printPinValues(values, io);
  if (values.injector.coordinatorPolicy === '') io.stderr(`WARNING: ${UNPINNED_WARNING}\n`);
  io.stdout(renderInstall(buildInstall({ values, namespace, version: VERSION })));
  return EXIT.ok;
}

/** `--print-pins`: the three pins as a Helm values document. */
function printPinValues(values: InstallValues, io: CliIo): number {
  const { coordinatorPolicy, meshOwner, coordinatorMeasurements } = values.injector;
  if (coordinatorPolicy === '') {
    throw new CcmeshError(ErrorCode.USAGE, 'install --print-pins: no pins to print; pass --workspace DIR, or --coordinator-policy, --mesh-owner and --coordinator-measurement');
  }
  io.stdout(stringify({ injector: { coordinatorPolicy, meshOwner, coordinatorMeasurements: [...coordinatorMeasurements] } }));
  return EXIT.ok;
}

/**
 * The pins a workspace gives, for the pins no flag gives: the policy hash of the manifest's one coordinator-role entry
 * (none, or several, is refused naming the file), the mesh owner (`mesh-owner`, else the manifest's owner keys) and
 * every launch measurement of the manifest's reference values (the Coordinator runs on the pods' VM image, as
 * `ccmesh generate` assumes too). The manifest is parsed by the Coordinator's own parser, so one the Coordinator
 * would refuse gives no pins.
 */
async function readWorkspacePins(dir: string, flagPins: InjectorPins, io: CliIo): Promise<InjectorPins> {
  const paths = workspacePaths(dir);
  const { manifest } = await readWorkspaceManifest(dir, (line) => io.stderr(line));
  const out: { -readonly [K in keyof InjectorPins]: InjectorPins[K] } = {};
  const said: string[] = [];
  if (flagPins.coordinatorPolicy === undefined) {
    const coordinators = coordinatorPolicies(manifest).map((p): string => p.policyHash);
    if (coordinators.length !== 1) {
      throw new CcmeshError(
        ErrorCode.INPUT_MALFORMED,
        coordinators.length === 0
          ? `cannot pin the Coordinator: ${paths.manifest} has no policies entry with role "coordinator"; add the Coordinator pod's policy hash with "role": "coordinator", or pass --coordinator-policy HASH`
          : `cannot pin the Coordinator: ${paths.manifest} has ${coordinators.length} policies entries with role "coordinator" (${coordinators.join(', ')}); pass the one the installed Coordinator runs with --coordinator-policy HASH`,
      );
    }
    out.coordinatorPolicy = coordinators[0]!;
    said.push(`Coordinator policy ${out.coordinatorPolicy} (${paths.manifest})`);
  }
  if (flagPins.coordinatorMeasurements === undefined) {
    const measurements = launchMeasurements(manifest);
    if (measurements.length === 0) {
      throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `cannot pin the Coordinator: ${paths.manifest} names no launch measurement in its referenceValues (allowUnmeasured only); pass the Coordinator's with --coordinator-measurement HEX48`);
    }
    out.coordinatorMeasurements = measurements;
    said.push(`Coordinator launch measurement${measurements.length === 1 ? '' : 's'} ${measurements.join(', ')} (the referenceValues of ${paths.manifest})`);
  }
  if (flagPins.meshOwner === undefined) {
    const owner = await readWorkspaceMeshOwner(dir, manifest);
    out.meshOwner = Buffer.from(owner.pin).toString('hex');
    said.push(`mesh owner ${out.meshOwner} (${owner.source === 'file' ? paths.meshOwner : `the owner keys of ${paths.manifest}: the first ccmesh set makes them the mesh owner`})`);
  }
  if (said.length > 0) io.stderr(`ccmesh install: injected pods pin the ${said.join(', the ')}\n`);
  return out;
}

async function readValuesFile(file: string): Promise<unknown> {
  const text = Buffer.from(await readInput('--values', file)).toString('utf8');
  try {
    return parse(text, { uniqueKeys: true, strict: true });
  } catch (err) {
    // The YAML library's message carries a code frame (the offending line, possibly megabytes long): first line only.
    const first = (err instanceof Error ? err.message : String(err)).split('\n', 1)[0]!.replace(/:$/, '');
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `--values ${showPath(file)}: not valid YAML: ${first.length > 200 ? `${first.slice(0, 200)}…` : first}`, { cause: err });
  }
}
