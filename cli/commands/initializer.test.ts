/**
 * The initializer verifying the Coordinator (`--coordinator-policy`): against a real Coordinator process on the
 * simulated TEE, a pod that pins the Coordinator's policy hash (and trusts the simulated root) gets its identity;
 * a pod that pins another hash — a stand-in for a fake Coordinator, whose evidence can't carry the pinned policy —
 * never sends its evidence and never writes a file, and its log says why. Flag misuse exits 64.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../lib/net/free-ports.js';
import { CCMESH_BIN, startCoordinatorProcess, waitFor } from '../../test/cli-process.js';

const ccmesh = (...args: string[]) => spawnSync(process.execPath, [CCMESH_BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const COORDINATOR_DOC = 'package coordinator_policy\n';
const POD_DOC = 'package pod_policy\n';

/** A simulated platform, a Coordinator process on it (restartable: its memory store is wiped), and workspaces. */
async function simulatedMesh(t: Test, prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [coordHash, podHash] = [sha256(COORDINATOR_DOC), sha256(POD_DOC)];
  const sim = join(dir, 'sim');
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim, '--host-data', coordHash).status, 0, 'simulated platform');
  const measurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  const [user, mesh, metrics] = (await freePorts(3)) as [number, number, number];
  const start = (): ReturnType<typeof startCoordinatorProcess> => startCoordinatorProcess(['--store', 'memory', '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1',
    '--user-port', String(user), '--mesh-port', String(mesh), '--metrics-port', String(metrics), '--log-level', 'warn']);
  let coordinator = start();
  t.teardown(() => coordinator.stop());
  const started = (): Promise<void> => waitFor(async () => (await fetch(`http://127.0.0.1:${metrics}/probe/startup`)).status === 200, 30_000);
  await started();
  return {
    dir, sim, measurement, coordHash, podHash, user, mesh, metrics,
    /** Kills the Coordinator and starts it again on an empty store. */
    restartWiped: async (): Promise<void> => {
      await coordinator.stop();
      coordinator = start();
      await started();
    },
    /** `manifest init` in dir/NAME with the Coordinator's and the pod's policy entries and documents. */
    workspace: (name: string): string => {
      const ws = join(dir, name);
      t.equal(ccmesh('manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', measurement).status, 0, `${name}: manifest init`);
      const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
      manifest.policies[coordHash] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
      manifest.policies[podHash] = { sans: ['pod'], workloadSecretId: 'pod', role: '' };
      writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(join(ws, 'policies', 'coordinator.rego'), COORDINATOR_DOC);
      writeFileSync(join(ws, 'policies', 'pod.rego'), POD_DOC);
      return ws;
    },
  };
}

/**
 * Runs an initializer that is expected to keep refusing: waits for two failed attempts, stops it, and returns its
 * log and what it left in `podDir` (secret written? files in tls/).
 */
async function refusingInitializer(args: readonly string[], podDir: string): Promise<{ log: string; secret: boolean; tlsFiles: string[] }> {
  const child = spawn(process.execPath, [CCMESH_BIN, ...args, '--tls-dir', join(podDir, 'tls'), '--secret-path', join(podDir, 'secret')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(async () => (log.match(/attestation attempt failed/g) ?? []).length >= 2, 30_000);
  child.kill('SIGTERM');
  await exited;
  return { log, secret: existsSync(join(podDir, 'secret')), tlsFiles: existsSync(join(podDir, 'tls')) ? readdirSync(join(podDir, 'tls')) : [] };
}

void t.test('--coordinator-policy: the pod attests only to the Coordinator it pins', async (t) => {
  const { dir, sim, measurement, coordHash, podHash, user, mesh, metrics, workspace } = await simulatedMesh(t, 'ccmesh-init-cli-');
  const ws = workspace('ws');
  const set = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(set.status, 0, set.stderr);
  const owner = readFileSync(join(ws, 'mesh-owner'), 'utf8').trim();
  t.match(owner, /^[0-9a-f]{64}$/, 'the first set wrote the mesh owner pin');
  t.match(set.stdout, new RegExp(`mesh owner ${owner}`), 'and printed it');

  const base = ['initializer', '--coordinator', `127.0.0.1:${mesh}`, '--tee', 'simulated', '--sim-dir', sim, '--host-data', podHash, '--no-guard', '--tls-owner', 'none', '--max-backoff', '1s'];
  const good = join(dir, 'good');
  const ok = ccmesh(...base, '--tls-dir', join(good, 'tls'), '--secret-path', join(good, 'secret'), '--coordinator-policy', coordHash, '--coordinator-measurement', measurement, '--coordinator-root', join(sim, 'ark.pem'), '--mesh-owner', owner);
  t.equal(ok.status, 0, ok.stderr);
  t.ok(existsSync(join(good, 'tls', 'chain.pem')) && existsSync(join(good, 'secret')), 'identity and secret written after the Coordinator verified');

  // Another pinned hash: what a pod would see from a server that is not its Coordinator.
  const other = sha256('package someone_else\n');
  const bad = await refusingInitializer([...base, '--coordinator-policy', other, '--coordinator-measurement', measurement, '--coordinator-root', join(sim, 'ark.pem'), '--mesh-owner', owner], join(dir, 'bad'));
  t.match(bad.log, /failed attestation against the local manifest/, 'each attempt is refused because the Coordinator is not the pinned one');
  t.notOk(bad.secret, 'no secret');
  t.same(bad.tlsFiles, [], 'no credential file');
  const newCerts = (await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()).match(/method="NewMeshCert",code="OK"[^}]*\} (\d+)/);
  t.equal(newCerts?.[1], '1', 'the Coordinator issued exactly one certificate: the refusing pod never asked');

  const misuse = ccmesh(...base, '--coordinator-root', join(sim, 'ark.pem'));
  t.equal(misuse.status, 64, '--coordinator-root without --coordinator-policy is a usage error');
  t.match(misuse.stderr, /--coordinator-root.*only together with --coordinator-policy/s);
  t.equal(ccmesh(...base, '--coordinator-policy', 'abc', '--coordinator-measurement', measurement, '--mesh-owner', owner).status, 64, 'a malformed hash is a usage error');
  const noOwner = ccmesh(...base, '--coordinator-policy', coordHash, '--coordinator-measurement', measurement);
  t.equal(noOwner.status, 64, '--coordinator-policy without --mesh-owner is a usage error');
  t.match(noOwner.stderr, /--mesh-owner.*mesh owner pin/s, 'naming the missing pin');
});

/**
 * The host wipes the Coordinator's store and restarts it, then a party of its own sets a manifest with the same
 * policy hashes (they are public). A genuine Coordinator — but another owner: a pod with the owner's pinned args
 * refuses it before sending evidence, and receives nothing.
 */
void t.test('--mesh-owner: a wiped and re-set Coordinator of another owner is refused; the owner\'s workspace refuses it too', async (t) => {
  const { dir, sim, measurement, coordHash, podHash, user, mesh, metrics, workspace, restartWiped } = await simulatedMesh(t, 'ccmesh-init-owner-');
  const ownerWs = workspace('owner');
  t.equal(ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ownerWs).status, 0, 'the owner sets the mesh');
  const owner = readFileSync(join(ownerWs, 'mesh-owner'), 'utf8').trim();
  const pinned = ['initializer', '--coordinator', `127.0.0.1:${mesh}`, '--tee', 'simulated', '--sim-dir', sim, '--host-data', podHash, '--no-guard', '--tls-owner', 'none',
    '--max-backoff', '1s', '--coordinator-policy', coordHash, '--coordinator-measurement', measurement, '--coordinator-root', join(sim, 'ark.pem'), '--mesh-owner', owner];
  const pod1 = join(dir, 'pod1');
  const first = ccmesh(...pinned, '--tls-dir', join(pod1, 'tls'), '--secret-path', join(pod1, 'secret'));
  t.equal(first.status, 0, `pod 1 joins the owner's mesh: ${first.stderr}`);

  // The host: kill, wipe (memory store), restart; then set a manifest of its own with the same policy hashes.
  await restartWiped();
  const hostWs = workspace('host');
  const hostSet = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', hostWs);
  t.equal(hostSet.status, 0, 'the host sets its own manifest on the fresh Coordinator');
  t.not(readFileSync(join(hostWs, 'mesh-owner'), 'utf8').trim(), owner, 'under another owner');

  const pod2 = await refusingInitializer(pinned, join(dir, 'pod2'));
  t.match(pod2.log, new RegExp(`genuine but serves mesh owner [0-9a-f]{64}, not the pinned ${owner}`), 'pod 2 (pod 1\'s pinned args) refuses the genuine Coordinator of another owner');
  t.notOk(pod2.secret, 'and receives no secret');
  t.same(pod2.tlsFiles, [], 'and no credential file');
  const metricsText = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  t.notMatch(metricsText, /method="NewMeshCert"/, 'it never even asked: no evidence left the pod');

  const ownerAgain = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ownerWs);
  t.equal(ownerAgain.status, 1, 'the owner\'s own set refuses the Coordinator that now serves another owner');
  t.match(ownerAgain.stderr, /serves mesh owner [0-9a-f]{64}, not this workspace's/, 'saying whose mesh it serves');
});
