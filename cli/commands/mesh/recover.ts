/** `ccmesh recover`: decrypt the owner's seed share and hand seed and salt to an attested Coordinator in recovery. */
import { constants, createPublicKey, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decryptSeedShare, type SeedShare } from '../../../coordinator/pki/seed-shares.js';
import { CcmeshError, describeError, ErrorCode } from '../../../lib/errors.js';
import { recoverSignedData } from '../../../lib/protocol/binding.js';
import type { GetManifestsResponse } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { b64, WireReader } from '../../../lib/protocol/wire.js';
import { EXIT } from '../../../lib/well-known.js';
import { attestedSession } from '../../coordinator-session.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceKey, readWorkspaceManifest, workspacePaths } from '../../workspace.js';
import { readSessionFlags } from './set.js';

/** Usage of `ccmesh recover`. */
export const RECOVER_USAGE = `Usage:
  ccmesh recover -c HOST:PORT [--dir WORKSPACE] [--wait 120s]

For a Coordinator that restarted and waits in recovery mode: decrypts this workspace's seed share
(seed-shares.json with keys/seedshare-owner.pem), attests the Coordinator against manifest.json and sends it seed
and salt, signed with the seed-share owner key. The Coordinator accepts them only if they reproduce its history.
`;

/** Runs `ccmesh recover`. */
export async function recoverCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(RECOVER_USAGE);
    return EXIT.ok;
  }
  const { address, dir, waitMs } = readSessionFlags('recover', argv.map((a) => (a === '-c' ? '--c' : a)));
  const p = workspacePaths(dir);
  const { manifest } = await readWorkspaceManifest(dir);
  const key = await readWorkspaceKey(p.seedshareKey, 'seed-share owner key');
  const myKey = Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })).toString('hex');
  let shares: SeedShare[];
  try {
    shares = (JSON.parse(await readFile(p.seedShares, 'utf8')) as { seedShares: SeedShare[] }).seedShares;
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read seed shares from ${p.seedShares} (${describeError(err)})`, { cause: err });
  }
  const share = shares.find((s) => s.ownerKey === myKey);
  if (!share) throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${p.seedShares} has no share for ${p.seedshareKey}`);
  const { seed, salt } = decryptSeedShare(share, key);
  const client = await attestedSession(address, UserApi, manifest, { io, waitMs });
  try {
    const state = (await client.call<GetManifestsResponse>('GetManifests', {})).state;
    if (state !== 'recovery') {
      io.stdout(`The Coordinator at ${address} is ${state}; nothing to recover.\n`);
      return state === 'ready' ? EXIT.ok : EXIT.rejected;
    }
    const nonce = new WireReader('GetNonce', await client.call('GetNonce', {})).bytes('nonce', 32, 32);
    const signature = sign('sha256', recoverSignedData(seed, salt, nonce, client.spki), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    await client.call('Recover', { seed: b64(seed), salt: b64(salt), nonce: b64(nonce), ownerKey: myKey, signature: b64(signature) }, 60_000);
    io.stdout(`Coordinator at ${address} recovered and ready.\n`);
    return EXIT.ok;
  } finally {
    client.close();
  }
}
