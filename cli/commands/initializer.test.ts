/**
 * The initializer verifying the Coordinator (`--coordinator-policy`): against a real Coordinator process on the
 * simulated TEE, a pod that pins the Coordinator's policy hash (and trusts the simulated root) gets its identity;
 * a pod that pins another hash — a stand-in for a fake Coordinator, whose evidence can't carry the pinned policy —
 * never sends its evidence and never writes a file, and its log says why. Flag misuse exits 64.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../lib/net/free-ports.js';
import { CCMESH_BIN, startCoordinatorProcess, waitFor } from '../../test/cli-process.js';

const ccmesh = (...args: string[]) => spawnSync(process.execPath, [CCMESH_BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

void t.test('--coordinator-policy: the pod attests only to the Coordinator it pins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-init-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const coordDoc = 'package coordinator_policy\n';
  const podDoc = 'package pod_policy\n';
  const [coordHash, podHash] = [sha256(coordDoc), sha256(podDoc)];
  const sim = join(dir, 'sim');
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim, '--host-data', coordHash).status, 0, 'simulated platform');
  const [user, mesh, metrics] = (await freePorts(3)) as [number, number, number];
  const coordinator = startCoordinatorProcess(['--store', 'memory', '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1',
    '--user-port', String(user), '--mesh-port', String(mesh), '--metrics-port', String(metrics), '--log-level', 'warn']);
  t.teardown(() => coordinator.stop());
  await waitFor(async () => (await fetch(`http://127.0.0.1:${metrics}/probe/startup`)).status === 200, 30_000);

  const ws = join(dir, 'ws');
  t.equal(ccmesh('manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem')).status, 0);
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
  manifest.policies[coordHash] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
  manifest.policies[podHash] = { sans: ['pod'], workloadSecretId: 'pod', role: '' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), coordDoc);
  writeFileSync(join(ws, 'policies', 'pod.rego'), podDoc);
  const set = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(set.status, 0, set.stderr);

  const base = ['initializer', '--coordinator', `127.0.0.1:${mesh}`, '--tee', 'simulated', '--sim-dir', sim, '--host-data', podHash, '--no-guard', '--tls-owner', 'none', '--max-backoff', '1s'];
  const good = join(dir, 'good');
  const ok = ccmesh(...base, '--tls-dir', join(good, 'tls'), '--secret-path', join(good, 'secret'), '--coordinator-policy', coordHash, '--coordinator-root', join(sim, 'ark.pem'));
  t.equal(ok.status, 0, ok.stderr);
  t.ok(existsSync(join(good, 'tls', 'chain.pem')) && existsSync(join(good, 'secret')), 'identity and secret written after the Coordinator verified');

  // Another pinned hash: what a pod would see from a server that is not its Coordinator.
  const bad = join(dir, 'bad');
  const other = sha256('package someone_else\n');
  const child = spawn(process.execPath, [CCMESH_BIN, ...base, '--tls-dir', join(bad, 'tls'), '--secret-path', join(bad, 'secret'), '--coordinator-policy', other, '--coordinator-root', join(sim, 'ark.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(async () => (log.match(/attestation attempt failed/g) ?? []).length >= 2, 30_000);
  child.kill('SIGTERM');
  await exited;
  t.match(log, /failed attestation against the local manifest/, 'each attempt is refused because the Coordinator is not the pinned one');
  t.notOk(existsSync(join(bad, 'secret')), 'no secret');
  t.same(existsSync(join(bad, 'tls')) ? readdirSync(join(bad, 'tls')) : [], [], 'no credential file');
  const newCerts = (await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()).match(/method="NewMeshCert",code="OK"[^}]*\} (\d+)/);
  t.equal(newCerts?.[1], '1', 'the Coordinator issued exactly one certificate: the refusing pod never asked');

  const misuse = ccmesh(...base, '--coordinator-root', join(sim, 'ark.pem'));
  t.equal(misuse.status, 64, '--coordinator-root without --coordinator-policy is a usage error');
  t.match(misuse.stderr, /--coordinator-root.*only together with --coordinator-policy/s);
  t.equal(ccmesh(...base, '--coordinator-policy', 'abc').status, 64, 'a malformed hash is a usage error');
});
