/** `ccmesh set`: attest the Coordinator against the local manifest, then set the manifest. */
import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { bytesEqual } from '../../../lib/bytes.js';
import { samePemCertificate } from '../../../lib/pki/same-certificate.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { formatMeshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { coordinatorStateName } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { signedSetManifestRequest } from '../../../lib/protocol/signed-set.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { seedShareFromMessage } from '../../../contract/seed-shares.js';
import { DirectoryTdxCollateral } from '../../../contract/attestation/tdx-collateral.js';
import { systemClock } from '../../../lib/clock.js';
import { attestedSessionWithOwner, type SessionOptions } from '../../coordinator-session.js';
import type { FlagSpec } from '../../../lib/config/argv.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceKey, readWorkspaceManifest, readWorkspaceMeshOwner, readWorkspacePolicies, workspaceHoldsMesh, workspacePaths } from '../../workspace.js';

/** Flags shared by set / verify / recover. */
export const SESSION_FLAGS = {
  coordinator: { type: 'string', short: 'c' }, dir: { type: 'string' }, wait: { type: 'string' }, 'tdx-collateral': { type: 'string' }, help: { type: 'boolean' },
} as const;

/** How set / verify / recover describe --tdx-collateral. */
export const TDX_COLLATERAL_HELP = `  --tdx-collateral DIR  TDX collateral files for judging a TDX Coordinator's TCB status (without them a TDX
                 Coordinator passes only manifest alternatives with "allowUnevaluatedTcb": true)
`;

/** Usage of `ccmesh set`. */
export const SET_USAGE = `Usage:
  ccmesh set -c HOST:PORT [--dir WORKSPACE] [--wait 120s] [--tdx-collateral DIR] [--force]

Attests the Coordinator at HOST:PORT (its user API, default port 1313) against the coordinator policy and
reference values of WORKSPACE/manifest.json, then sets that manifest with the documents in WORKSPACE/policies/.
Every set is signed with keys/workload-owner.pem (a manifest without workload owner keys: the first set with
keys/seedshare-owner.pem). The first set makes this workspace's key set the mesh owner, which every pod pins
(--mesh-owner); an update is sent only to a Coordinator serving that owner (WORKSPACE/mesh-owner). Writes
root-ca.pem, mesh-ca.pem and, on the first set, mesh-owner and seed-shares.json (keep it: recovery needs it).
  --force  set a fresh Coordinator although this workspace already belongs to a mesh (starts a new mesh; existing
           seed shares are kept, the new ones go to seed-shares-<transition>.json)
${TDX_COLLATERAL_HELP}`;

/** Reads -c/--coordinator, --dir, --wait, --tdx-collateral (and `--force` when `spec` has it). */
export function readSessionFlags(command: string, argv: readonly string[], spec: FlagSpec = SESSION_FLAGS): { address: string; dir: string; waitMs: number; tdxCollateralDir: string | undefined; force: boolean } {
  const { r } = readCommandFlags(command, argv, spec);
  const address = r.raw('coordinator');
  if (address === undefined) r.issue('coordinator', undefined, 'the Coordinator address HOST:PORT (-c)');
  const waitMs = r.duration('wait', 120_000);
  r.finish();
  return { address: address!, dir: r.raw('dir') ?? '.', waitMs: waitMs!, tdxCollateralDir: r.raw('tdx-collateral'), force: r.raw('force') === 'true' };
}

/** The session options of a command: where to print, how long to wait, TDX collateral when given. */
export async function sessionOptions(flags: { waitMs: number; tdxCollateralDir: string | undefined }, io: CliIo): Promise<SessionOptions> {
  if (flags.tdxCollateralDir === undefined) return { io, waitMs: flags.waitMs };
  const tdxCollateral = await DirectoryTdxCollateral.open(flags.tdxCollateralDir, { clock: systemClock });
  return { io, waitMs: flags.waitMs, tdxCollateral };
}

/** Flags of `ccmesh set`: the session flags and `--force`. */
const SET_FLAGS = { ...SESSION_FLAGS, force: { type: 'boolean' } } as const;

/** Runs `ccmesh set`. */
export async function setCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(SET_USAGE);
    return EXIT.ok;
  }
  const flags = readSessionFlags('set', argv, SET_FLAGS);
  const { address, dir, force } = flags;
  const p = workspacePaths(dir);
  const { bytes, manifest } = await readWorkspaceManifest(dir, io.stderr);
  const policies = await readWorkspacePolicies(dir);
  const expected = await readWorkspaceMeshOwner(dir, manifest);
  const { client, meshOwner: served } = await attestedSessionWithOwner(address, UserApi, manifest, await sessionOptions(flags, io));
  try {
    io.stderr(`attested the Coordinator at ${address} against ${p.manifest}\n`);
    const history = await client.call('GetManifests', {});
    const state = coordinatorStateName(history.state);
    if (state === 'recovery') throw new CcmeshError(ErrorCode.COORDINATOR_REFUSED, 'the Coordinator is in recovery mode: run "ccmesh recover" first');
    let key: KeyObject;
    if (state === 'fresh') {
      const held = await workspaceHoldsMesh(dir);
      if (held !== undefined && !force) {
        throw new CcmeshError(
          ErrorCode.COORDINATOR_REFUSED,
          `the Coordinator at ${address} is fresh (no history), but this workspace already belongs to a mesh (${held}). Setting now would start a new mesh with a new root CA and seed; ` +
            'pods of the old mesh would not trust it, and if the old store still exists elsewhere, recover it instead ("ccmesh recover"). Pass --force to start a new mesh on purpose (old seed shares are kept).',
        );
      }
      // The first set is signed by a key the manifest names; that key set becomes the mesh owner pods pin.
      key = manifest.workloadOwnerKeys.length > 0
        ? await readWorkspaceKey(p.ownerKey, 'workload owner key')
        : await readWorkspaceKey(p.seedshareKey, 'seed-share owner key');
    } else {
      if (!bytesEqual(served, expected.pin)) {
        throw new CcmeshError(
          ErrorCode.ATTEST_COORDINATOR_WRONG_OWNER,
          `the Coordinator at ${address} serves mesh owner ${formatMeshOwnerPin(served) || '(none)'}, not this workspace's ${formatMeshOwnerPin(expected.pin)} (from ${expected.source === 'file' ? p.meshOwner : 'the manifest\'s keys'}): it belongs to another mesh` +
            (expected.source === 'manifest' ? `. If this workspace rotated its owner keys since the first set, write the owner pin the mesh started with to ${p.meshOwner}` : ''),
        );
      }
      // A workspace from before mesh-owner files (or one that lost it) gets the pin the Coordinator proved it serves.
      if (expected.source === 'manifest') await writeFileAtomic(p.meshOwner, `${formatMeshOwnerPin(served)}\n`, 0o644);
      // SECURITY: the root CA this workspace holds (from the first set) must be the one the Coordinator serves: another
      // root means another seed, i.e. not the mesh this workspace set, whatever owner it names.
      const heldRoot = await readFile(p.rootCa, 'utf8').catch(() => undefined);
      if (heldRoot !== undefined && !samePemCertificate(heldRoot, history.rootCa)) {
        throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_WRONG_OWNER, `the Coordinator at ${address} serves another root CA than ${p.rootCa}: it is not the mesh this workspace set (its store may have been replaced); nothing was sent`);
      }
      key = await readWorkspaceKey(p.ownerKey, 'workload owner key');
    }
    const req = await signedSetManifestRequest(client, bytes, policies, key);
    const res = await client.call('SetManifest', req, 60_000);
    await writeFileAtomic(p.rootCa, res.rootCa, 0o644);
    await writeFileAtomic(p.meshCa, res.meshCaBundle, 0o644);
    const wrote = [p.rootCa, p.meshCa];
    if (res.seedShares.length > 0) {
      // Never overwrite seed shares: an older file may be the only way to recover an older history.
      const target = await freshSeedSharesPath(p.seedShares, res.transitionHash);
      await writeFileAtomic(target, JSON.stringify({ transitionHash: res.transitionHash, seedShares: res.seedShares.map(seedShareFromMessage) }, null, 2) + '\n', 0o600);
      wrote.push(`${target} (${res.seedShares.length} seed share(s) — keep them safe)`);
    }
    if (state === 'fresh') {
      await writeFileAtomic(p.meshOwner, `${res.meshOwner}\n`, 0o644);
      wrote.push(p.meshOwner);
    }
    io.stdout(
      `Manifest set (${state === 'fresh' ? 'first manifest' : 'update'}): manifest ${res.manifestHash.slice(0, 16)}…, transition ${res.transitionHash.slice(0, 16)}…\n` +
        `  mesh owner ${res.meshOwner} (every pod pins it: --mesh-owner; ccmesh generate adds it)\n` +
        `  wrote ${wrote.join(', ')}\n`,
    );
    return EXIT.ok;
  } finally {
    client.close();
  }
}

/** `seed-shares.json`, or when it exists `seed-shares-<transition prefix>.json` (never an existing file). */
async function freshSeedSharesPath(path: string, transitionHash: string): Promise<string> {
  const exists = (f: string): Promise<boolean> => stat(f).then(() => true, () => false);
  if (!(await exists(path))) return path;
  for (let n = 0; ; n++) {
    const candidate = path.replace(/\.json$/, `-${transitionHash.slice(0, 12)}${n === 0 ? '' : `-${n}`}.json`);
    if (!(await exists(candidate))) return candidate;
  }
}

