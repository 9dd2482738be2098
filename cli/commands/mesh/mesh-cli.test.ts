/**
 * The operator's path through the real binary: a Coordinator process on the simulated TEE, then
 * manifest init → set → verify → (restart) → recover → verify, plus the probes and metrics a kubelet and
 * Prometheus would read.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePorts } from '../../../lib/net/free-ports.js';
import { startCoordinatorProcess, waitFor } from '../../../test/cli-process.js';
import { repoRoot } from '../../../test/fixtures.js';

const bin = join(repoRoot, 'bin', 'ccmesh');
const ccmesh = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

const startCoordinator = startCoordinatorProcess;

/** One GET on a fresh connection: a pooled keep-alive connection can race the server's idle close ("other side closed"). */
async function probe(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
  return { status: res.statusCode, body: await res.body.text() };
}

void t.test('manifest init → set → verify → restart → recover', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const coordDoc = 'package coordinator_policy\n';
  const coordHash = createHash('sha256').update(coordDoc).digest('hex');
  const sim = join(dir, 'sim');
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim, '--host-data', coordHash).status, 0);
  const [user, meshPort, metrics] = (await freePorts(3)) as [number, number, number];
  const args = ['--store', `file:${join(dir, 'store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1', '--user-port', String(user), '--mesh-port', String(meshPort), '--metrics-port', String(metrics), '--log-level', 'warn'];
  let coordinator = startCoordinator(args);
  t.teardown(() => coordinator.stop());
  await waitFor(async () => (await probe(metrics, '/probe/startup')).status === 200, 30_000);
  t.equal((await probe(metrics, '/probe/liveness')).status, 200);
  const notReady = await probe(metrics, '/probe/readiness');
  t.equal(notReady.status, 503);
  t.match(notReady.body, /fresh/);

  const ws = join(dir, 'workspace');
  const measurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  const init = ccmesh('manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', measurement);
  t.equal(init.status, 0, init.stderr);
  t.equal(statSync(join(ws, 'keys', 'workload-owner.pem')).mode & 0o777, 0o600);
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
  manifest.policies[coordHash] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), coordDoc);

  const set = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(set.status, 0, set.stderr + set.stdout);
  t.match(set.stdout, /first manifest/);
  for (const f of ['root-ca.pem', 'mesh-ca.pem', 'seed-shares.json']) t.ok(existsSync(join(ws, f)), f);
  t.equal(statSync(join(ws, 'seed-shares.json')).mode & 0o777, 0o600);
  t.equal((await probe(metrics, '/probe/readiness')).status, 200);
  const metricsText = (await probe(metrics, '/metrics')).body;
  t.match(metricsText, /ccmesh_coordinator_rpc_handled_total\{[^}]*method="SetManifest"[^}]*code="OK"/);
  t.match(metricsText, /ccmesh_coordinator_manifest_generation\{[^}]*\} 1/);

  const verify = ccmesh('verify', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(verify.status, 0, verify.stderr + verify.stdout);
  t.match(verify.stdout, /latest manifest is the local manifest/);
  t.ok(existsSync(join(ws, 'verify', 'manifest-1.json')));

  // A manifest edit not yet set: verify reports the difference with exit 3.
  const edited = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { meshCert?: unknown };
  edited.meshCert = { leafLifetime: '12h' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(edited));
  t.equal(ccmesh('verify', '-c', `127.0.0.1:${user}`, '--dir', ws).status, 3);
  const update = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(update.status, 0, update.stderr);
  t.match(update.stdout, /update/);
  const rootBefore = readFileSync(join(ws, 'root-ca.pem'), 'utf8');

  // Restart: recovery mode, then recover from the workspace's seed share.
  await coordinator.stop();
  coordinator = startCoordinator(args);
  await waitFor(async () => (await probe(metrics, '/probe/startup')).status === 200, 30_000);
  t.match((await probe(metrics, '/probe/readiness')).body, /recovery/);
  const setInRecovery = ccmesh('set', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.not(setInRecovery.status, 0);
  t.match(setInRecovery.stderr, /recover/);
  const recover = ccmesh('recover', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(recover.status, 0, recover.stderr + recover.stdout);
  t.equal((await probe(metrics, '/probe/readiness')).status, 200);
  const after = ccmesh('verify', '-c', `127.0.0.1:${user}`, '--dir', ws);
  t.equal(after.status, 0, after.stderr);
  t.equal(readFileSync(join(ws, 'verify', 'root-ca.pem'), 'utf8'), rootBefore, 'the same root CA after recovery');
});

void t.test('bad flags exit 64 naming every problem; an unreachable Coordinator times out with progress', (t) => {
  const bad = ccmesh('coordinator', '--store', 'sql:x', '--tee', 'simulated', '--user-port', '99999');
  t.equal(bad.status, 64);
  t.match(bad.stderr, /--store: got "sql:x"/);
  t.match(bad.stderr, /--sim-dir/);
  t.match(bad.stderr, /--user-port: got "99999"/);
  const missing = ccmesh('set', '--dir', '/nonexistent-ccmesh');
  t.equal(missing.status, 64);
  t.match(missing.stderr, /--coordinator/);
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(ccmesh('manifest', 'init', '--dir', dir, '--snp-measurement', 'ab'.repeat(48)).status, 0);
  t.equal(ccmesh('manifest', 'init', '--dir', dir, '--snp-measurement', 'ab'.repeat(48)).status, 64, 'init refuses to overwrite a manifest');
  const noWorkspacePolicies = ccmesh('set', '-c', '127.0.0.1:1', '--dir', dir, '--wait', '1500ms');
  t.equal(noWorkspacePolicies.status, 1);
  t.match(noWorkspacePolicies.stderr, /waiting for the Coordinator at 127\.0\.0\.1:1/);
  t.match(noWorkspacePolicies.stderr, /CCMESH_ERR_COORDINATOR_UNREACHABLE|ECONNREFUSED|no TLS handshake/);
  t.end();
});
