/**
 * The operator's side of mesh owner pinning, through the real binary against a Coordinator process on the simulated
 * TEE with a file store: `set` will not silently start a new mesh on a wiped (fresh) Coordinator from a workspace
 * that already belongs to one, and never overwrites seed shares; `verify` names both owners when the Coordinator
 * serves another; `recover` sends nothing when the stored history was rolled back behind the workspace.
 */
import t from 'tap';
import type tap from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { freePorts } from '../../../lib/net/free-ports.js';
import { CCMESH_BIN, type CoordinatorChild, startCoordinatorProcess, waitFor } from '../../../test/cli-process.js';
import { createRootCa } from '../../../coordinator/pki/ca.js';
import { systemClock } from '../../../lib/clock.js';

const ccmesh = (...args: string[]) => spawnSync(process.execPath, [CCMESH_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const COORD_DOC = 'package coordinator_policy\n';
const POD_DOC = 'package pod_policy\n';

/** Every file under `dir` (relative path → SHA-256 of its bytes). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const p = join(dir, f);
    if (statSync(p).isFile()) out[relative(dir, p)] = sha256(readFileSync(p));
  }
  return out;
}

/** A simulated platform, a Coordinator process over a file store that can be restarted or wiped, and workspaces. */
async function setup(t: Pick<typeof tap, 'teardown' | 'equal'>) {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-owner-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sim = join(dir, 'sim');
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim, '--host-data', sha256(COORD_DOC)).status, 0, 'simulated platform');
  const measurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  const [user, mesh, metrics] = (await freePorts(3)) as [number, number, number];
  const store = join(dir, 'store');
  let coordinator: CoordinatorChild | undefined;
  t.teardown(() => coordinator?.stop());
  const probe = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${metrics}${path}`);
    return { status: res.status, body: await res.text() };
  };
  /**
   * (Re)starts the Coordinator on the same store; `whileStopped` may change the store, then `wipe` deletes it (what
   * a host can do).
   */
  const restart = async (opts: { wipe?: boolean; whileStopped?: () => void } = {}): Promise<void> => {
    await coordinator?.stop();
    opts.whileStopped?.();
    if (opts.wipe) rmSync(store, { recursive: true, force: true });
    coordinator = startCoordinatorProcess(['--store', `file:${store}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1',
      '--user-port', String(user), '--mesh-port', String(mesh), '--metrics-port', String(metrics), '--log-level', 'warn']);
    await waitFor(async () => (await probe('/probe/startup')).status === 200, 30_000);
  };
  /** The mesh owner pin `manifest init` printed for each workspace. */
  const printedOwner = new Map<string, string | undefined>();
  const workspace = (name: string): string => {
    const ws = join(dir, name);
    const init = ccmesh('manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', measurement);
    t.equal(init.status, 0, `${name}: manifest init`);
    printedOwner.set(ws, /Mesh owner of these keys: ([0-9a-f]{64})/.exec(init.stdout)?.[1]);
    const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
    manifest.policies[sha256(COORD_DOC)] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
    manifest.policies[sha256(POD_DOC)] = { sans: ['pod'], workloadSecretId: 'pod', role: '' };
    writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(join(ws, 'policies', 'coordinator.rego'), COORD_DOC);
    writeFileSync(join(ws, 'policies', 'pod.rego'), POD_DOC);
    return ws;
  };
  const c = `127.0.0.1:${user}`;
  const run = (command: string, ws: string, ...extra: string[]) => ccmesh(command, '-c', c, '--dir', ws, '--wait', '20s', ...extra);
  const rpcCount = async (method: string): Promise<number> =>
    [...(await probe('/metrics')).body.matchAll(new RegExp(`ccmesh_coordinator_rpc_handled_total\\{[^}]*method="${method}"[^}]*\\} (\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
  await restart();
  return { dir, store, restart, workspace, printedOwner, run, probe, rpcCount };
}

void t.test('set on a wiped (fresh) Coordinator from a workspace of a mesh: refused, --force starts a new mesh keeping old seed shares; verify names both owners', async (t) => {
  const { dir, store, restart, workspace, printedOwner, run, probe } = await setup(t);
  const ws = workspace('owner');
  const first = run('set', ws);
  t.equal(first.status, 0, `the first set: ${first.stderr}`);
  const owner = readFileSync(join(ws, 'mesh-owner'), 'utf8').trim();
  t.match(owner, /^[0-9a-f]{64}$/, 'the first set wrote mesh-owner');
  t.equal(printedOwner.get(ws), owner, 'the pin manifest init printed for these keys');
  const before = snapshot(ws);
  t.ok(before['seed-shares.json'] && before['root-ca.pem'], 'and seed-shares.json, root-ca.pem');

  // The host wipes the store and restarts the Coordinator: fresh, no history. (A copy of the store survives.)
  const oldStore = join(dir, 'old-store');
  await restart({ whileStopped: () => cpSync(store, oldStore, { recursive: true }), wipe: true });
  t.match((await probe('/probe/readiness')).body, /fresh/);
  const refused = run('set', ws);
  t.equal(refused.status, 1, 'set refuses to start a new mesh from a workspace that belongs to one');
  t.match(refused.stderr, /is fresh \(no history\), but this workspace already belongs to a mesh \([^)]*mesh-owner\)/, 'naming the file that says so');
  t.match(refused.stderr, /recover it instead .*Pass --force to start a new mesh on purpose/s, 'and both ways forward');
  t.same(snapshot(ws), before, 'nothing in the workspace was written');
  t.match((await probe('/probe/readiness')).body, /fresh/, 'and nothing was set: the Coordinator is still fresh');

  // Each marker on its own is enough: a copy of the workspace that kept only its seed shares.
  const sharesOnly = join(dir, 'shares-only');
  cpSync(ws, sharesOnly, { recursive: true });
  rmSync(join(sharesOnly, 'mesh-owner'));
  rmSync(join(sharesOnly, 'root-ca.pem'));
  const refusedShares = run('set', sharesOnly);
  t.equal(refusedShares.status, 1, 'a workspace holding only seed-shares.json is refused too');
  t.match(refusedShares.stderr, /already belongs to a mesh \([^)]*seed-shares\.json\)/);
  t.notOk(existsSync(join(sharesOnly, 'mesh-owner')), 'and gets no mesh-owner');

  // Meanwhile another party sets its own manifest (same policy hashes, its own keys): another owner.
  const host = workspace('host');
  t.equal(run('set', host).status, 0, 'another party sets its manifest on the fresh Coordinator');
  const hostOwner = readFileSync(join(host, 'mesh-owner'), 'utf8').trim();
  t.not(hostOwner, owner);
  // It then updates its history to the owner's exact manifest (signed by its own key, the current owner's): the
  // Coordinator's latest manifest is byte for byte the workspace's, only the owner tells the meshes apart.
  copyFileSync(join(ws, 'manifest.json'), join(host, 'manifest.json'));
  t.equal(run('set', host).status, 0, 'and updates it to the owner\'s manifest');
  const verify = run('verify', ws);
  t.equal(verify.status, 3, 'verify from the owner\'s workspace exits 3');
  t.match(verify.stdout, /Its latest manifest is the local manifest\.json/, 'although the latest manifest is the local one');
  t.match(verify.stdout, new RegExp(`It does NOT serve this workspace's mesh owner ${owner}: it serves ${hostOwner}`), 'naming both owners');

  // --force on a fresh Coordinator: a new mesh on purpose; the old seed shares stay, the new ones get their own file.
  await restart({ wipe: true });
  const forced = run('set', ws, '--force');
  t.equal(forced.status, 0, `set --force: ${forced.stderr}`);
  const transition = /transition ([0-9a-f]{16})…/.exec(forced.stdout)?.[1] ?? '';
  const newShares = `seed-shares-${transition.slice(0, 12)}.json`;
  t.match(forced.stdout, new RegExp(`wrote .*${newShares.replace('.', '\\.')}`), `reports ${newShares}`);
  t.match(newShares, /^seed-shares-[0-9a-f]{12}\.json$/);
  const after = snapshot(ws);
  t.equal(after['seed-shares.json'], before['seed-shares.json'], 'the old seed-shares.json is byte-identical');
  t.ok(after[newShares], `the new shares are in ${newShares}`);
  t.equal(statSync(join(ws, newShares)).mode & 0o777, 0o600, 'readable by the owner only');
  t.equal((JSON.parse(readFileSync(join(ws, newShares), 'utf8')) as { transitionHash: string }).transitionHash.slice(0, 16), transition, 'holding the new history\'s first transition');
  t.not(after['root-ca.pem'], before['root-ca.pem'], 'a new root CA: a new mesh');
  t.equal(readFileSync(join(ws, 'mesh-owner'), 'utf8').trim(), owner, 'the same keys: the same owner pin');
  t.equal(run('verify', ws).status, 0, 'verify: the Coordinator serves this workspace again');

  // A restart of the new mesh: recover must find the new mesh's shares, not the kept old ones.
  await restart();
  t.match((await probe('/probe/readiness')).body, /recovery/);
  const recovered = run('recover', ws);
  t.equal(recovered.status, 0, `recover after --force uses the shares of the stored history: ${recovered.stderr}`);
  t.match(recovered.stderr, new RegExp(`seed share in \\S*${newShares.replace('.', '\\.')}`), 'and says which file it used');
  t.equal((await probe('/probe/readiness')).status, 200);

  // The old store comes back (same first manifest, so the same first transition): the newest share does not match
  // it, the kept seed-shares.json does.
  await restart({ whileStopped: () => {
    rmSync(store, { recursive: true, force: true });
    cpSync(oldStore, store, { recursive: true });
  } });
  t.match((await probe('/probe/readiness')).body, /recovery/);
  const recoveredOld = run('recover', ws);
  t.equal(recoveredOld.status, 0, `the old history recovers with the kept seed-shares.json: ${recoveredOld.stderr}`);
  t.match(recoveredOld.stderr, new RegExp(`seed share in \\S*${newShares.replace('.', '\\.')} is of another history .*\\n.*recovered with the seed share in \\S*/seed-shares\\.json`), 'after trying the newer file first');
  // The workspace now holds the root of the mesh --force started; the restored store is the first mesh.
  const verified = run('verify', ws);
  t.equal(verified.status, 3, 'verify: this owner and this manifest, but not the root CA the workspace holds');
  t.match(verified.stdout, /serves another root CA than \S*root-ca\.pem/, 'and says so');
  t.equal(sha256(readFileSync(join(ws, 'verify', 'root-ca.pem'))), before['root-ca.pem'], 'it serves the root CA of the first mesh');
});

void t.test('recover refuses a store rolled back behind the workspace, before sending anything; --force recovers it', async (t) => {
  const { store, restart, workspace, run, probe, rpcCount } = await setup(t);
  const ws = workspace('owner');
  t.equal(run('set', ws).status, 0, 'first manifest');
  const manifest1 = sha256(readFileSync(join(ws, 'manifest.json')));
  const latest1 = join(store, '..', 'latest-after-first-set');
  copyFileSync(join(store, 'latest'), latest1);
  const edited = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { meshCert?: unknown };
  edited.meshCert = { leafLifetime: '12h' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(edited, null, 2));
  const update = run('set', ws);
  t.equal(update.status, 0, `the update (e.g. one that removed a compromised policy): ${update.stderr}`);

  // The host restarts the Coordinator with the older (validly signed) latest pointer put back.
  await restart();
  copyFileSync(latest1, join(store, 'latest'));
  await restart();
  t.match((await probe('/probe/readiness')).body, /recovery/);
  const refused = run('recover', ws);
  t.equal(refused.status, 1, 'recover refuses');
  t.match(refused.stderr, /stored history ends at manifest [0-9a-f]{64}, not this workspace's manifest\.json \([0-9a-f]{64}\).*rolled back.*Nothing was sent/s, 'saying why and that nothing was sent');
  t.notMatch(refused.stderr, new RegExp(manifest1), 'control: hashes are canonical manifest hashes, not file hashes');
  t.equal(await rpcCount('Recover'), 0, 'the Coordinator never received a Recover call');
  t.match((await probe('/probe/readiness')).body, /recovery/, 'and is still in recovery');

  const forced = run('recover', ws, '--force');
  t.equal(forced.status, 0, `recover --force proceeds: ${forced.stderr}`);
  t.equal((await probe('/probe/readiness')).status, 200, 'the Coordinator is ready');
  const verify = run('verify', ws);
  t.equal(verify.status, 3, 'and verify then shows the rollback');
  t.match(verify.stdout, /serves this workspace's mesh owner/);
  t.match(verify.stdout, /latest manifest is NOT the local manifest\.json/);
});

void t.test('set sends no update to a Coordinator serving another root CA than the workspace holds', async (t) => {
  const { workspace, run } = await setup(t);
  const ws = workspace('owner');
  t.equal(run('set', ws).status, 0, 'first manifest');
  const rootPath = join(ws, 'root-ca.pem');
  const genuine = readFileSync(rootPath);
  const other = await createRootCa({ key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, trustDomain: 'ccmesh.local', clock: systemClock });
  writeFileSync(rootPath, other.certPem);
  const refusedSet = run('set', ws);
  t.equal(refusedSet.status, 1, 'refused');
  t.match(refusedSet.stderr, /serves another root CA than \S*root-ca\.pem: it is not the mesh this workspace set/, 'naming the root CA file');
  t.equal(readFileSync(rootPath, 'utf8'), other.certPem, 'the workspace\'s root CA file is left as it was');
  writeFileSync(rootPath, genuine);
  t.equal(run('set', ws).status, 0, 'control: with the root it set, the update goes through');
});
