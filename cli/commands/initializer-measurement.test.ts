/**
 * The pod-side Coordinator check (`initializer --coordinator-policy HASH --coordinator-measurement HEX`): a genuine
 * Coordinator with the pinned policy hash but another launch measurement — what a host gets by booting its own
 * image with the Coordinator's policy hash — is refused, in process and through the real initializer binary; the
 * measurement is required with --coordinator-policy (or the explicit, warned-about opt-out).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { manifestTrustWarnings } from '../../contract/manifest/trust-warnings.js';
import { Harness, sha256hex } from '../../coordinator/test/harness.js';
import { CCMESH_BIN, waitFor } from '../../test/cli-process.js';
import { verifyCoordinator } from '../coordinator-session.js';
import { coordinatorTrustManifest } from '../../contract/coordinator-trust.js';

const OTHER = 'ab'.repeat(48);

void t.test('a Coordinator whose launch measurement differs from the pinned one is refused', async (t) => {
  const { h, mesh } = await Harness.started(t);
  const policy = sha256hex(h.coordinatorDoc);
  const measured = h.platform.config.measurement;
  const root = h.platform.ark.toString();
  await t.resolves(verifyCoordinator(mesh, coordinatorTrustManifest(policy, [measured], root)), 'the pinned measurement: accepted');
  await t.rejects(verifyCoordinator(mesh, coordinatorTrustManifest(policy, [OTHER], root)), /failed attestation against the local manifest: measurement 0{96} is not one of the 1 reference measurement/, 'another measurement: refused');
  const any = coordinatorTrustManifest(policy, 'any', root);
  await t.resolves(verifyCoordinator(mesh, any), 'the explicit opt-out accepts any image');
  t.same(manifestTrustWarnings(any).map((w) => w.alternative), ['referenceValues.snp[0]', 'referenceValues.tdx[0]', 'referenceValues.tdx[0]', 'referenceValues.simulated[0].snp'], 'and is a weakened manifest');
  t.same(manifestTrustWarnings(coordinatorTrustManifest(policy, [measured], root)).map((w) => `${w.alternative} ${w.kind}`), ['referenceValues.tdx[0] unevaluated-tcb'], 'pinned: only the documented TDX TCB gap');
});

void t.test('the initializer binary: a wrong --coordinator-measurement never attests; flag misuse exits 64', async (t) => {
  const { h } = await Harness.started(t);
  const policy = sha256hex(h.coordinatorDoc);
  const base = ['initializer', '--coordinator', `127.0.0.1:${h.coordinator!.meshPort}`, '--tee', 'simulated', '--sim-dir', join(h.dir, 'platform'), '--host-data', sha256hex(h.podDoc),
    '--no-guard', '--tls-owner', 'none', '--max-backoff', '1s', '--tls-dir', join(h.dir, 'tls'), '--secret-path', join(h.dir, 'secret'),
    // The mesh-owner pin is another check (cli/commands/initializer.test.ts); this Coordinator has no manifest yet.
    '--any-mesh-owner'];
  const child = spawn(process.execPath, [CCMESH_BIN, ...base, '--coordinator-policy', policy, '--coordinator-measurement', OTHER, '--coordinator-root', join(h.dir, 'platform', 'ark.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor(async () => (log.match(/attestation attempt failed/g) ?? []).length >= 2, 30_000);
  child.kill('SIGTERM');
  await exited;
  t.match(log, /measurement 0{96} is not one of the 1 reference measurement/, 'each attempt names the measurement');

  const run = (...extra: string[]) => spawnSync(process.execPath, [CCMESH_BIN, ...base, ...extra], { encoding: 'utf8', timeout: 60_000 });
  const missing = run('--coordinator-policy', policy);
  t.equal(missing.status, 64, '--coordinator-policy without a measurement');
  t.match(missing.stderr, /--coordinator-measurement: got nothing, expected the Coordinator's launch measurement/);
  t.equal(run('--coordinator-measurement', OTHER).status, 64, 'a measurement without --coordinator-policy');
  t.equal(run('--coordinator-policy', policy, '--coordinator-measurement', 'abc').status, 64, 'a malformed measurement');
  t.equal(run('--coordinator-policy', policy, '--coordinator-measurement', OTHER, '--coordinator-allow-unmeasured').status, 64, 'not both');
});
