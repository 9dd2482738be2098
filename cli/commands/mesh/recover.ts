/** `ccmesh recover`: decrypt the owner's seed share and hand seed and salt to an attested Coordinator in recovery. */
import { createPublicKey } from 'node:crypto';
import { EvidenceChecker } from '../../../contract/attestation/evidence-check.js';
import { decryptSeedShare } from '../../../contract/seed-shares.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { recoverSignedData, signBinding } from '../../../lib/protocol/binding.js';
import { coordinatorStateName } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { manifestHash } from '../../../contract/manifest/canonical.js';
import { formatMeshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { attestedSession, verifyCoordinator } from '../../coordinator-session.js';
import { seedShareFilesFor } from '../../seed-share-files.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceKey, readWorkspaceManifest, readWorkspaceMeshOwner, workspacePaths } from '../../workspace.js';
import { readSessionFlags, SESSION_FLAGS, sessionOptions, TDX_COLLATERAL_HELP } from './set.js';

/** Flags of `ccmesh recover`: the session flags and `--force`. */
const RECOVER_FLAGS = { ...SESSION_FLAGS, force: { type: 'boolean' } } as const;

/** Usage of `ccmesh recover`. */
export const RECOVER_USAGE = `Usage:
  ccmesh recover -c HOST:PORT [--dir WORKSPACE] [--wait 120s] [--tdx-collateral DIR] [--force]

For a Coordinator that restarted and waits in recovery mode: attests the Coordinator against manifest.json,
decrypts this workspace's seed share of its history with keys/seedshare-owner.pem (seed-shares.json, or after
"set --force" the seed-shares-<transition>.json of that history) and sends it seed and salt, signed with the
seed-share owner key. The Coordinator accepts them only if they reproduce its history.
Nothing is sent when the stored history does not end at this workspace's manifest.json (a rollback, or an out of
date workspace) unless --force, nor while the Coordinator sees ready peer replicas it recovers from by itself
(peer recovery, --peers) unless --force; afterwards the Coordinator must serve this workspace's mesh owner.
${TDX_COLLATERAL_HELP}`;

/** Runs `ccmesh recover`. */
export async function recoverCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(RECOVER_USAGE);
    return EXIT.ok;
  }
  const flags = readSessionFlags('recover', argv, RECOVER_FLAGS);
  const { address, dir } = flags;
  const p = workspacePaths(dir);
  const { bytes, manifest } = await readWorkspaceManifest(dir, io.stderr);
  const key = await readWorkspaceKey(p.seedshareKey, 'seed-share owner key');
  const myKey = Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })).toString('hex');
  const expected = await readWorkspaceMeshOwner(dir, manifest);
  const session = await sessionOptions(flags, io);
  const client = await attestedSession(address, UserApi, manifest, session);
  try {
    const history = await client.call('GetManifests', {});
    const state = coordinatorStateName(history.state);
    if (state !== 'recovery') {
      io.stdout(`The Coordinator at ${address} is ${state}; nothing to recover.\n`);
      return state === 'ready' ? EXIT.ok : EXIT.rejected;
    }
    // Replicas recover from a ready peer by themselves (--peers); a second seed from here would be redundant at best,
    // and at worst hides why peer recovery does not work (the Coordinator's recoveryStatus says).
    if (history.readyPeers > 0 && !flags.force) {
      throw new CcmeshError(
        ErrorCode.COORDINATOR_REFUSED,
        `the Coordinator at ${address} sees ${history.readyPeers} ready peer replica(s) and recovers from them by itself (${history.recoveryStatus || 'no status yet'}). ` +
          'Nothing was sent. Wait for it, or pass --force to recover it by hand anyway.',
      );
    }
    // SECURITY: the store is the host's. A history that ends anywhere but at this workspace's manifest may be an
    // older signed `latest` put back (a rollback the seed would happily verify): refuse unless told otherwise.
    const latest = history.manifests.at(-1);
    const latestHash = latest === undefined ? undefined : manifestHash(latest);
    if (latestHash !== manifestHash(bytes) && !flags.force) {
      throw new CcmeshError(
        ErrorCode.COORDINATOR_REFUSED,
        `the Coordinator's stored history ends at manifest ${latestHash ?? '(none)'}, not this workspace's manifest.json (${manifestHash(bytes)}): ` +
          'the store may have been rolled back to an older manifest, or this workspace is out of date. Nothing was sent. Run "ccmesh verify" on a healthy replica, or pass --force to recover this history anyway.',
      );
    }
    // The shares of this history: after "set --force" the workspace holds several files (seed-share-files.ts).
    const files = await seedShareFilesFor(dir, history.transitions[0] ?? '', myKey);
    for (const [i, file] of files.entries()) {
      const { seed, salt } = decryptSeedShare(file.share, key);
      const nonce = await client.nonce();
      const signature = signBinding(recoverSignedData(seed, salt, nonce, client.spki), key);
      try {
        await client.call('Recover', { seed, salt, nonce, ownerKey: myKey, signature }, 60_000);
        io.stderr(`recovered with the seed share in ${file.path}\n`);
        break;
      } catch (err) {
        // The same manifest set twice starts two histories with one first transition: try the older file next.
        const mismatch = err instanceof CcmeshError && /does not match the Coordinator's history/.test(err.message);
        if (!mismatch || i === files.length - 1) throw err;
        io.stderr(`the seed share in ${file.path} is of another history with the same first manifest; trying ${files[i + 1]!.path}\n`);
      }
    }
    // The recovered history must be this workspace's mesh: its owner is bound into the Coordinator's evidence now.
    // Judged like the first attestation: with --tdx-collateral, a TDX Coordinator's TCB is evaluated again.
    await verifyCoordinator(client, manifest, new EvidenceChecker(session.tdxCollateral ? { tdxCollateral: session.tdxCollateral } : {}), expected.pin);
    io.stdout(`Coordinator at ${address} recovered and ready (mesh owner ${formatMeshOwnerPin(expected.pin)}).\n`);
    return EXIT.ok;
  } finally {
    client.close();
  }
}
