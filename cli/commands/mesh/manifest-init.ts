/** `ccmesh manifest init`: owner keys and a skeleton manifest in a workspace. */
import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { buildManifestDocument } from '../../../contract/manifest/document.js';
import { parseManifestValue } from '../../../contract/manifest/parse.js';
import { manifestTrustWarnings, trustWarningLine } from '../../../contract/manifest/trust-warnings.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CcmeshError, describeError, ErrorCode } from '../../../lib/errors.js';
import { formatMeshOwnerPin, meshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { measurementFlag } from '../../../lib/config/flag-values.js';
import { readInput } from '../../read-input.js';
import { showPath, writingUserPath } from '../../user-paths.js';
import { ensureWorkspaceKeys, workspacePaths } from '../../workspace.js';

const FLAGS = {
  dir: { type: 'string' },
  'simulated-root': { type: 'string' },
  'snp-measurement': { type: 'string', multiple: true },
  'tdx-mrtd': { type: 'string', multiple: true },
  'allow-unmeasured': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh manifest init`. */
export const MANIFEST_INIT_USAGE = `Usage:
  ccmesh manifest init [--dir WORKSPACE] (--snp-measurement HEX48 | --tdx-mrtd HEX48)... [--simulated-root ARK.pem]
  ccmesh manifest init [--dir WORKSPACE] [--simulated-root ARK.pem] --allow-unmeasured

Creates in WORKSPACE (default "."): keys/workload-owner.pem (ECDSA P-384, may update the manifest),
keys/seedshare-owner.pem (RSA-4096, receives a seed share for recovery), an empty policies/ folder and a skeleton
manifest.json listing both keys. Add one policies.<hash> entry per workload (the hash is the SHA-256 of the
pod's policy / initdata document, which goes into policies/).
  --snp-measurement HEX48  the SEV-SNP launch MEASUREMENT of the pod VM image (repeatable: any of them passes);
                  goes into referenceValues.snp, or into the simulated root with --simulated-root
  --tdx-mrtd HEX48  the TDX MRTD of the pod VM image (repeatable); goes into referenceValues.tdx. TDX pods also
                  need collateral at the Coordinator (ccmesh coordinator --tdx-collateral DIR)
  --simulated-root ARK.pem  trust a simulated TEE's ARK (development only; its platform.json names the
                  measurement its reports carry)
  --allow-unmeasured  INSECURE: write an alternative that accepts any launch measurement ("allowUnmeasured":
                  true). A policy hash then proves nothing: the host can boot its own guest with a pod's hash.
A measurement is required because HOST_DATA / MRCONFIGID are chosen by the host at launch: they name a policy
only when the measured image enforces it.
`;

/** Runs `ccmesh manifest init`. */
export async function manifestInitCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(MANIFEST_INIT_USAGE);
    return EXIT.ok;
  }
  const { r, tok } = readCommandFlags('manifest init', argv, FLAGS);
  const dir = r.raw('dir') ?? '.';
  const simRoot = r.raw('simulated-root');
  const snp = measurementFlag(r, tok, 'snp-measurement');
  const tdx = measurementFlag(r, tok, 'tdx-mrtd');
  const unmeasured = r.raw('allow-unmeasured') === 'true';
  const given = (tok.lists['snp-measurement']?.length ?? 0) + (tok.lists['tdx-mrtd']?.length ?? 0);
  if (unmeasured && given > 0) r.issue('allow-unmeasured', 'true', 'either launch measurements or --allow-unmeasured, not both');
  if (!unmeasured && given === 0) {
    r.issue(
      'snp-measurement',
      undefined,
      'the launch measurement of the pod VM image: --snp-measurement HEX (SEV-SNP MEASUREMENT, 96 hex digits; with --simulated-root the ' +
        '"measurement" in the simulated platform.json) and/or --tdx-mrtd HEX (TDX MRTD); or --allow-unmeasured to accept any image (insecure)',
    );
  }
  r.finish();
  const p = workspacePaths(dir);
  if (await stat(p.manifest).then(() => true, () => false)) {
    throw new CcmeshError(ErrorCode.USAGE, `${p.manifest} already exists; edit it, or choose another --dir`);
  }
  const arkPem = simRoot === undefined ? undefined : await readSimulatedRoot(simRoot);
  const snpValues = unmeasured ? { allowUnmeasured: true } : { measurements: snp };
  const doc = buildManifestDocument({
    workloadOwnerKeys: [],
    seedshareOwnerKeys: [],
    ...(arkPem !== undefined
      ? { simulatedArkPem: arkPem, ...(snp.length > 0 || unmeasured ? { simulatedSnp: snpValues } : {}) }
      : snp.length > 0 || (unmeasured && tdx.length === 0) ? { snp: [snpValues] } : {}),
    ...(tdx.length > 0 ? { tdx: [{ mrTd: tdx }] } : {}),
    policies: [],
  });
  // Judged before any key is created: e.g. --tdx-mrtd alone with --simulated-root leaves the simulated root
  // without a measurement, which the parser refuses naming the field.
  const warnings = manifestTrustWarnings(parseManifestValue(doc));
  const keys = await writingUserPath('--dir', dir, () => ensureWorkspaceKeys(dir));
  doc.workloadOwnerKeys = [keys.ownerSpkiHex];
  doc.seedshareOwnerKeys = [keys.seedshareSpkiHex];
  for (const w of warnings) io.stderr(trustWarningLine(w, p.manifest));
  await writingUserPath('--dir', dir, () => writeFileAtomic(p.manifest, JSON.stringify(doc, null, 2) + '\n', 0o644));
  io.stdout(`Workspace ${dir}:\n${[...keys.created, p.manifest].map((f) => `  created ${f}`).join('\n')}\nNext: add policies (manifest.json "policies" + the documents in ${p.policies}), then "ccmesh set -c HOST:PORT --dir ${dir}".\n`);
  // What the first set of this manifest makes the mesh owner (pods pin it: --mesh-owner); `set` writes it to mesh-owner.
  const hex = (k: string): Uint8Array => new Uint8Array(Buffer.from(k, 'hex'));
  io.stdout(`Mesh owner of these keys: ${formatMeshOwnerPin(meshOwnerPin(doc.workloadOwnerKeys.map(hex), doc.seedshareOwnerKeys.map(hex)))} (pods pin it with --mesh-owner once this manifest is set first).\n`);
  return EXIT.ok;
}


/** The `--simulated-root` file: read under the input cap, and exactly one X.509 certificate in PEM (the ARK). */
async function readSimulatedRoot(path: string): Promise<string> {
  const text = Buffer.from(await readInput('--simulated-root', path)).toString('utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `--simulated-root ${showPath(path)}: expected one PEM certificate (the simulated ARK, ark.pem of "ccmesh attest simulate init"), found ${blocks.length}`);
  }
  try {
    new X509Certificate(blocks[0]!);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `--simulated-root ${showPath(path)}: not a valid X.509 certificate (${describeError(err)})`, { cause: err });
  }
  return text;
}
