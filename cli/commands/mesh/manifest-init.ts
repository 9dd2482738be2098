/** `ccmesh manifest init`: owner keys and a skeleton manifest in a workspace. */
import { readFile, stat } from 'node:fs/promises';
import { exampleManifest } from '../../../coordinator/manifest/example.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CcmeshError, describeError, ErrorCode } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/well-known.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { ensureWorkspaceKeys, workspacePaths } from '../../workspace.js';

const FLAGS = { dir: { type: 'string' }, 'simulated-root': { type: 'string' }, help: { type: 'boolean' } } as const;

/** Usage of `ccmesh manifest init`. */
export const MANIFEST_INIT_USAGE = `Usage:
  ccmesh manifest init [--dir WORKSPACE] [--simulated-root ARK.pem]

Creates in WORKSPACE (default "."): keys/workload-owner.pem (ECDSA P-384, may update the manifest),
keys/seedshare-owner.pem (RSA-4096, receives a seed share for recovery), an empty policies/ folder and a skeleton
manifest.json listing both keys. Add one policies.<hash> entry per workload (the hash is the SHA-256 of the
pod's policy / initdata document, which goes into policies/), and pin measurements in referenceValues.
--simulated-root trusts a simulated TEE's ARK (development only).
`;

/** Runs `ccmesh manifest init`. */
export async function manifestInitCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(MANIFEST_INIT_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('manifest init', argv, FLAGS);
  const dir = r.raw('dir') ?? '.';
  const simRoot = r.raw('simulated-root');
  r.finish();
  const p = workspacePaths(dir);
  if (await stat(p.manifest).then(() => true, () => false)) {
    throw new CcmeshError(ErrorCode.USAGE, `${p.manifest} already exists; edit it, or choose another --dir`);
  }
  let arkPem: string | undefined;
  if (simRoot !== undefined) {
    try {
      arkPem = await readFile(simRoot, 'utf8');
    } catch (err) {
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `--simulated-root ${simRoot}: cannot read (${describeError(err)})`, { cause: err });
    }
  }
  const keys = await ensureWorkspaceKeys(dir);
  const doc = exampleManifest({
    workloadOwnerKeys: [keys.ownerSpkiHex],
    seedshareOwnerKeys: [keys.seedshareSpkiHex],
    ...(arkPem ? { simulatedArkPem: arkPem } : { snp: [{}] }),
    policies: [],
  });
  await writeFileAtomic(p.manifest, JSON.stringify(doc, null, 2) + '\n', 0o644);
  io.stdout(`Workspace ${dir}:\n${[...keys.created, p.manifest].map((f) => `  created ${f}`).join('\n')}\nNext: add policies (manifest.json "policies" + the documents in ${p.policies}), then "ccmesh set -c HOST:PORT --dir ${dir}".\n`);
  return EXIT.ok;
}
