/**
 * PR_SET_DUMPABLE as an attack: a process of the same uid tries to read another's memory map and environment through
 * /proc (what ptrace-style access needs). Against a process that called forbidDumps it is refused and the /proc
 * entries belong to root; the control process (same code, without the call) is readable. Then the real
 * `ccmesh initializer` and `ccmesh coordinator`, run as a non-root uid, are checked from outside the same way.
 * Needs to run the processes as another uid (root) or as ourselves (non-root): both work.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { repoRoot } from '../../test/fixtures.js';
import { freePorts } from '../net/free-ports.js';

const MODULE = pathToFileURL(fileURLToPath(new URL('./dumpable.js', import.meta.url))).href;
const asRoot = process.getuid?.() === 0;
/** The uid the processes under test run as: nobody when we are root (so root's own access says nothing), else us. */
const uid = asRoot ? 65534 : process.getuid!();
const gid = asRoot ? 65534 : process.getgid!();
const skip = process.platform !== 'linux' ? 'Linux only (prctl, /proc)' : undefined;

// env -i: tap's process tracking puts its loader into NODE_OPTIONS of every child, which can't write as another uid.
function start(args: readonly string[], cwd?: string): ChildProcess {
  const child = spawn('env', ['-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, process.execPath, ...args], { uid, gid, stdio: ['pipe', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  return child;
}

function line(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: string): void => {
      buf += d;
      if (buf.includes('\n')) {
        child.stdout!.off('data', onData);
        resolve(buf.split('\n')[0]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before a line`)));
  });
}

/** A process of the same uid reads /proc/<pid>/environ: the attack. True when it could. */
function sameUidReads(pid: number): boolean {
  const r = spawnSync('env', ['-i', process.execPath, '-e', `require('fs').readFileSync('/proc/${pid}/environ'); process.stdout.write('read')`], { uid, gid, encoding: 'utf8' });
  return r.stdout === 'read';
}

const owner = (pid: number): number => statSync(`/proc/${pid}/status`).uid;

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (cond()) return true;
  return cond();
}

void t.test('a same-uid process cannot read a non-dumpable one; it can read the control', { skip }, async (t) => {
  const script = (call: boolean) => `import(${JSON.stringify(MODULE)}).then(async (m) => { const r = ${call ? 'await m.forbidDumps()' : '({ ok: null })'}; console.log(JSON.stringify(r)); process.stdin.resume(); });`;
  const control = start(['-e', script(false)]);
  const hardened = start(['-e', script(true)]);
  t.teardown(() => {
    control.kill('SIGKILL');
    hardened.kill('SIGKILL');
  });
  t.same(JSON.parse(await line(hardened)), { ok: true }, 'forbidDumps reports success');
  await line(control);
  t.equal(owner(control.pid!), uid, `control: /proc/<pid> belongs to its uid ${uid}`);
  t.ok(sameUidReads(control.pid!), 'control: a same-uid process reads its environment');
  t.equal(owner(hardened.pid!), 0, 'hardened: /proc/<pid> belongs to root');
  t.notOk(sameUidReads(hardened.pid!), 'hardened: the same-uid process is refused');
});

void t.test('the real initializer and Coordinator make themselves non-dumpable', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-dumpable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await initSimulatedPlatform(join(dir, 'sim'), { rsaBits: 2048 });
  // Everything belongs to the uid the processes run as (the simulated platform's key must stay 0600).
  if (asRoot) spawnSync('chown', ['-R', `${uid}:${gid}`, dir]);
  const [user, mesh, metrics] = await freePorts(3);
  const bin = join(repoRoot, 'bin', 'ccmesh');
  const procs: [string, string[]][] = [
    // Retries an unreachable Coordinator until killed.
    ['initializer', [bin, 'initializer', '--coordinator', '127.0.0.1:9', '--tee', 'simulated', '--sim-dir', join(dir, 'sim'), '--no-guard', '--tls-owner', 'none',
      '--tls-dir', join(dir, 'tls'), '--secret-path', join(dir, 'secret'), '--max-backoff', '1s', '--log-level', 'error']],
    ['coordinator', [bin, 'coordinator', '--store', `file:${join(dir, 'store')}`, '--tee', 'simulated', '--sim-dir', join(dir, 'sim'), '--listen-host', '127.0.0.1',
      '--user-port', String(user), '--mesh-port', String(mesh), '--metrics-port', String(metrics), '--log-level', 'error']],
  ];
  for (const [name, args] of procs) {
    const child = start(args, dir);
    let err = '';
    child.stderr!.on('data', (d: string) => void (err += d));
    t.teardown(() => child.kill('SIGKILL'));
    // Started (its own log line or a second), then still running: the check is made on a process doing its work.
    await waitFor(() => child.exitCode !== null || err.length > 0, 3000);
    const hardened = await waitFor(() => child.exitCode === null && owner(child.pid!) === 0, 20_000);
    t.ok(hardened && child.exitCode === null, `ccmesh ${name} (uid ${uid}): running, /proc/<pid> belongs to root${child.exitCode !== null ? ` (it exited ${child.exitCode}: ${err.slice(-300)})` : ''}`);
    t.notOk(sameUidReads(child.pid!), `ccmesh ${name}: a same-uid process cannot read its environment`);
    child.kill('SIGKILL');
  }
});
