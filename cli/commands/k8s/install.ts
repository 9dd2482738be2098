/**
 * `ccmesh install --print [--values FILE] [--namespace NS]`: prints the install manifests as YAML for
 * `kubectl apply -f -`. ccmesh has no Kubernetes client for installing, so without `--print` it says so (exit 64).
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { buildInstall, renderInstall } from '../../../k8s/install/build.js';
import { DEFAULT_VALUES, parseInstallValues } from '../../../k8s/install/values.js';
import { INSTALL_NAMES } from '../../../k8s/constants.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/well-known.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { VERSION } from '../../../lib/version.js';

const FLAGS = {
  print: { type: 'boolean' },
  values: { type: 'string' },
  namespace: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh install`. */
export const INSTALL_USAGE = `Usage:
  ccmesh install --print [--values FILE] [--namespace ${INSTALL_NAMES.namespace}] | kubectl apply -f -

Prints the Kubernetes install manifests as YAML: the Namespace, the Coordinator StatefulSet with its Services,
PersistentVolumeClaim template and PodDisruptionBudget, the sidecar injector Deployment, Service, RBAC and
MutatingWebhookConfiguration, and optional ServiceMonitors. Every object is checked against the Kubernetes schema.
  --values FILE   YAML values (the same keys as charts/ccmesh/values.yaml); unknown keys are errors
  --namespace NS  namespace of the install (default ${INSTALL_NAMES.namespace})
ccmesh does not talk to the Kubernetes API to install; pipe the output to kubectl, or use the Helm chart.
`;

/** Prints the install manifests. */
export async function installCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(INSTALL_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('install', argv, FLAGS);
  if (r.raw('print') !== 'true') {
    r.issue('print', undefined, 'the --print flag: ccmesh has no Kubernetes client and cannot apply the install itself; run "ccmesh install --print | kubectl apply -f -" or use the Helm chart');
  }
  const namespace = r.raw('namespace') ?? INSTALL_NAMES.namespace;
  const valuesFile = r.raw('values');
  r.finish();
  const values = valuesFile === undefined ? DEFAULT_VALUES : parseInstallValues(await readValuesFile(valuesFile), valuesFile);
  io.stdout(renderInstall(buildInstall({ values, namespace, version: VERSION })));
  return EXIT.ok;
}

async function readValuesFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read the values file ${file}`, { cause: err });
  }
  try {
    return parse(text, { uniqueKeys: true, strict: true });
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `the values file ${file} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
