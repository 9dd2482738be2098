/** `ccmesh verify`: attest the Coordinator, fetch its history, compare it with the local manifest. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestHash } from '../../../coordinator/manifest/canonical.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import type { GetManifestsResponse } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { EXIT } from '../../../lib/well-known.js';
import { attestedSession } from '../../coordinator-session.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceManifest, workspacePaths } from '../../workspace.js';
import { readSessionFlags } from './set.js';

/** Usage of `ccmesh verify`. */
export const VERIFY_USAGE = `Usage:
  ccmesh verify -c HOST:PORT [--dir WORKSPACE] [--wait 120s]

Attests the Coordinator against WORKSPACE/manifest.json, fetches its manifest history and CAs into
WORKSPACE/verify/, and checks that its latest manifest is the local one. Exit 0 when it is, 3 when it is not.
`;

/** Runs `ccmesh verify`. */
export async function meshVerifyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(VERIFY_USAGE);
    return EXIT.ok;
  }
  const { address, dir, waitMs } = readSessionFlags('verify', argv.map((a) => (a === '-c' ? '--c' : a)));
  const { bytes, manifest } = await readWorkspaceManifest(dir);
  const client = await attestedSession(address, UserApi, manifest, { io, waitMs });
  try {
    const res = await client.call<GetManifestsResponse>('GetManifests', {});
    const out = workspacePaths(dir).verifyDir;
    await mkdir(out, { recursive: true });
    for (const [i, m] of res.manifests.entries()) await writeFileAtomic(join(out, `manifest-${i + 1}.json`), Buffer.from(m, 'base64'), 0o644);
    if (res.rootCa) await writeFileAtomic(join(out, 'root-ca.pem'), res.rootCa, 0o644);
    if (res.meshCaBundle) await writeFileAtomic(join(out, 'mesh-ca.pem'), res.meshCaBundle, 0o644);
    const latest = res.manifests.at(-1);
    const same = latest !== undefined && manifestHash(Buffer.from(latest, 'base64')) === manifestHash(bytes);
    io.stdout(
      `Coordinator at ${address}: attested, state ${res.state}, ${res.manifests.length} manifest(s) in its history (written to ${out}).\n` +
        (same ? 'Its latest manifest is the local manifest.json.\n' : `Its latest manifest is NOT the local manifest.json${latest === undefined ? ' (it has none)' : ''}.\n`),
    );
    return same ? EXIT.ok : EXIT.rejected;
  } finally {
    client.close();
  }
}
