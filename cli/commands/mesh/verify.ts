/** `ccmesh verify`: attest the Coordinator, fetch its history, compare it with the local manifest. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestHash } from '../../../contract/manifest/canonical.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { coordinatorStateName } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { bytesEqual } from '../../../lib/bytes.js';
import { samePemCertificate } from '../../../lib/pki/same-certificate.js';
import { formatMeshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { attestedSessionWithOwner } from '../../coordinator-session.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceManifest, readWorkspaceMeshOwner, workspacePaths } from '../../workspace.js';
import { readSessionFlags, sessionOptions, TDX_COLLATERAL_HELP } from './set.js';
import { makeDirs } from '../../../lib/fs/make-dirs.js';

/** Usage of `ccmesh verify`. */
export const VERIFY_USAGE = `Usage:
  ccmesh verify -c HOST:PORT [--dir WORKSPACE] [--wait 120s] [--tdx-collateral DIR]

Attests the Coordinator against WORKSPACE/manifest.json, fetches its manifest history and CAs into
WORKSPACE/verify/, and checks that it serves this workspace's mesh owner (WORKSPACE/mesh-owner) and that its latest
manifest is the local one. Exit 0 when both hold, 3 when not.
${TDX_COLLATERAL_HELP}`;

/** Runs `ccmesh verify`. */
export async function meshVerifyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(VERIFY_USAGE);
    return EXIT.ok;
  }
  const flags = readSessionFlags('verify', argv);
  const { address, dir } = flags;
  const { bytes, manifest } = await readWorkspaceManifest(dir, io.stderr);
  const expected = await readWorkspaceMeshOwner(dir, manifest);
  const { client, meshOwner } = await attestedSessionWithOwner(address, UserApi, manifest, await sessionOptions(flags, io));
  try {
    const res = await client.call('GetManifests', {});
    const sameOwner = bytesEqual(meshOwner, expected.pin);
    const heldRoot = await readFile(workspacePaths(dir).rootCa, 'utf8').catch(() => undefined);
    const sameRoot = heldRoot === undefined || (res.rootCa !== '' && samePemCertificate(heldRoot, res.rootCa));
    const out = workspacePaths(dir).verifyDir;
    await makeDirs(out);
    for (const [i, m] of res.manifests.entries()) await writeFileAtomic(join(out, `manifest-${i + 1}.json`), m, 0o644);
    if (res.rootCa) await writeFileAtomic(join(out, 'root-ca.pem'), res.rootCa, 0o644);
    if (res.meshCaBundle) await writeFileAtomic(join(out, 'mesh-ca.pem'), res.meshCaBundle, 0o644);
    const latest = res.manifests.at(-1);
    const same = latest !== undefined && manifestHash(latest) === manifestHash(bytes);
    const served = formatMeshOwnerPin(meshOwner);
    io.stdout(
      `Coordinator at ${address}: attested, state ${coordinatorStateName(res.state)}, ${res.manifests.length} manifest(s) in its history (written to ${out}).\n` +
        (sameOwner
          ? `It serves this workspace's mesh owner ${served}.\n`
          : `It does NOT serve this workspace's mesh owner ${formatMeshOwnerPin(expected.pin)}: it serves ${served === '' ? 'none (fresh, or awaiting recovery)' : served}.\n`) +
        (sameRoot ? '' : `It serves another root CA than ${workspacePaths(dir).rootCa}: not the mesh this workspace set.\n`) +
        (same ? 'Its latest manifest is the local manifest.json.\n' : `Its latest manifest is NOT the local manifest.json${latest === undefined ? ' (it has none)' : ''}.\n`),
    );
    return same && sameOwner && sameRoot ? EXIT.ok : EXIT.rejected;
  } finally {
    client.close();
  }
}
