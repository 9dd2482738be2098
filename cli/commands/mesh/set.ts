/** `ccmesh set`: attest the Coordinator against the local manifest, then set the manifest. */
import { constants, sign } from 'node:crypto';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { setManifestSignedData } from '../../../lib/protocol/binding.js';
import type { GetManifestsResponse, SetManifestResponse } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { b64, WireReader } from '../../../lib/protocol/wire.js';
import { EXIT } from '../../../lib/well-known.js';
import { attestedSession } from '../../coordinator-session.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceKey, readWorkspaceManifest, readWorkspacePolicies, workspacePaths } from '../../workspace.js';

/** Flags shared by set / verify / recover. */
export const SESSION_FLAGS = { coordinator: { type: 'string' }, c: { type: 'string' }, dir: { type: 'string' }, wait: { type: 'string' }, help: { type: 'boolean' } } as const;

/** Usage of `ccmesh set`. */
export const SET_USAGE = `Usage:
  ccmesh set -c HOST:PORT [--dir WORKSPACE] [--wait 120s]

Attests the Coordinator at HOST:PORT (its user API, default port 1313) against the coordinator policy and
reference values of WORKSPACE/manifest.json, then sets that manifest with the documents in WORKSPACE/policies/.
Updates are signed with keys/workload-owner.pem. Writes root-ca.pem, mesh-ca.pem and, on the first set,
seed-shares.json (keep it: recovery needs it).
`;

/** Reads -c/--coordinator, --dir and --wait. */
export function readSessionFlags(command: string, argv: readonly string[]): { address: string; dir: string; waitMs: number } {
  const { r } = readCommandFlags(command, argv, SESSION_FLAGS);
  const address = r.raw('coordinator') ?? r.raw('c');
  if (address === undefined) r.issue('coordinator', undefined, 'the Coordinator address HOST:PORT (-c)');
  const waitMs = r.duration('wait', 120_000);
  r.finish();
  return { address: address!, dir: r.raw('dir') ?? '.', waitMs: waitMs! };
}

/** Runs `ccmesh set`. */
export async function setCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(SET_USAGE);
    return EXIT.ok;
  }
  const { address, dir, waitMs } = readSessionFlags('set', argv.map((a) => (a === '-c' ? '--c' : a)));
  const { bytes, manifest } = await readWorkspaceManifest(dir);
  const policies = await readWorkspacePolicies(dir);
  const client = await attestedSession(address, UserApi, manifest, { io, waitMs });
  try {
    io.stderr(`attested the Coordinator at ${address} against ${workspacePaths(dir).manifest}\n`);
    const state = (await client.call<GetManifestsResponse>('GetManifests', {})).state;
    if (state === 'recovery') throw new CcmeshError(ErrorCode.COORDINATOR_REFUSED, 'the Coordinator is in recovery mode: run "ccmesh recover" first');
    const req: Record<string, unknown> = { manifest: b64(bytes), policies: policies.map(b64) };
    if (state === 'ready') {
      const key = await readWorkspaceKey(workspacePaths(dir).ownerKey, 'workload owner key');
      const nonce = new WireReader('GetNonce', await client.call('GetNonce', {})).bytes('nonce', 32, 32);
      req.nonce = b64(nonce);
      req.ownerKey = Buffer.from((await import('node:crypto')).createPublicKey(key).export({ type: 'spki', format: 'der' })).toString('hex');
      req.signature = b64(sign('sha256', setManifestSignedData(bytes, policies, nonce, client.spki), key.asymmetricKeyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key));
    }
    const res = await client.call<SetManifestResponse>('SetManifest', req, 60_000);
    const p = workspacePaths(dir);
    await writeFileAtomic(p.rootCa, res.rootCa, 0o644);
    await writeFileAtomic(p.meshCa, res.meshCaBundle, 0o644);
    if (res.seedShares.length > 0) await writeFileAtomic(p.seedShares, JSON.stringify({ transitionHash: res.transitionHash, seedShares: res.seedShares }, null, 2) + '\n', 0o600);
    io.stdout(
      `Manifest set (${state === 'fresh' ? 'first manifest' : 'update'}): manifest ${res.manifestHash.slice(0, 16)}…, transition ${res.transitionHash.slice(0, 16)}…\n` +
        `  wrote ${p.rootCa}, ${p.meshCa}${res.seedShares.length > 0 ? `, ${p.seedShares} (${res.seedShares.length} seed share(s) — keep them safe)` : ''}\n`,
    );
    return EXIT.ok;
  } finally {
    client.close();
  }
}
