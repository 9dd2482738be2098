/**
 * The initializer checks every flag before it installs the inbound guard (issue #20 §2): as root on a developer
 * machine a guard installed for a mistyped `--coordinator` cut off inbound traffic, SSH included, while the command
 * retried the bad address. Runs in a fresh network namespace (`unshare -n`) and reads its filter table back; the
 * control row shows the same invocation with a well-formed address does install the guard there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { privilegedSkipReason } from '../../test/support/iptables/netns-harness.js';
import { CCMESH_BIN } from '../../test/cli-process.js';

/** Runs the initializer in a new network namespace; returns its exit code and the namespace's ccmesh filter rules. */
function inFreshNetns(args: readonly string[]): Promise<{ code: string; rules: string; stderr: string }> {
  const quoted = [process.execPath, CCMESH_BIN, 'initializer', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // Start it, wait up to 60 s for a guard rule or its exit, stop it, then print its exit code and the rules.
  const script = `${quoted} 2>"$ERR" & P=$!
for i in $(seq 1 300); do iptables-save -t filter | grep -q CCMESH && break; kill -0 $P 2>/dev/null || break; sleep 0.2; done
kill -TERM $P 2>/dev/null; wait $P; echo "code=$?"; iptables-save -t filter | grep CCMESH || true`;
  return new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-init-flags-'));
    const child = spawn('unshare', ['-n', 'sh', '-c', script], { env: { ...process.env, ERR: join(dir, 'stderr') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const code = /code=(\d+)/.exec(out)?.[1] ?? '?';
      let stderr = '';
      try {
        stderr = readFileSync(join(dir, 'stderr'), 'utf8');
      } catch {
        // The shell never started the initializer: the assertions on its exit code say so.
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, rules: out.replace(/code=\d+\n?/, ''), stderr });
    });
  });
}

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping the guard-order test: ${reason}`);
  t.pass('guard-order test', { skip: reason });
} else {
  void t.test('a malformed --coordinator is refused before the inbound guard is installed', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-init-flags-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    await initSimulatedPlatform(join(dir, 'sim'), { rsaBits: 2048 });
    const common = ['--tee', 'simulated', '--sim-dir', join(dir, 'sim'), '--tls-dir', join(dir, 'tls'), '--secret-path', join(dir, 'secret'), '--tls-owner', 'none'];

    const bad = await inFreshNetns(['--coordinator', '999.1.1.1', ...common]);
    t.equal(bad.code, '64', `exit 64 (${bad.stderr})`);
    t.match(bad.stderr, /--coordinator: got "999\.1\.1\.1", expected the Coordinator mesh API address HOST:PORT/);
    t.equal(bad.rules, '', 'no guard rule was installed');

    // Control: a well-formed address that nothing answers — the guard goes in first, as designed.
    const good = await inFreshNetns(['--coordinator', '127.0.0.1:1', '--max-backoff', '1s', ...common]);
    t.match(good.rules, /CCMESH/, `the guard is installed for a well-formed address (${good.stderr.slice(0, 300)})`);
  });
}
