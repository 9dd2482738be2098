/**
 * `ccmesh secure-pv` checks every flag, the workload secret and the mount directory before the device is touched:
 * each bad input exits 64 naming the flag, and no command (cryptsetup, mkfs, mount) has run. `--check-mounted` (the
 * helper's startup probe) tells a mount point from a plain directory.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult, Runner } from '../../initializer/secure-pv/cryptsetup.js';
import { ConfigError } from '../../lib/errors.js';
import { runCli } from '../run.js';
import { securePvCommand } from './secure-pv.js';

class NoRunner implements Runner {
  readonly calls: string[] = [];
  run(cmd: string, args: readonly string[]): Promise<RunResult> {
    this.calls.push(`${cmd} ${args.join(' ')}`);
    return Promise.resolve({ code: 1, stdout: '', stderr: 'not in this test' });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pv-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mnt = join(dir, 'mnt');
mkdirSync(mnt);
const secret = join(dir, 'secret');
writeFileSync(secret, Buffer.alloc(64, 1));
const shortSecret = join(dir, 'short');
writeFileSync(shortSecret, Buffer.alloc(8));

const io = (): { io: { stdout: (s: string) => void; stderr: (s: string) => void }; err: () => string } => {
  let err = '';
  return { io: { stdout: () => undefined, stderr: (s: string) => (err += s) }, err: () => err };
};

void t.test('bad flags exit 64 naming each flag, before anything runs', async (t) => {
  const c = io();
  const code = await runCli(['secure-pv', '--device', 'dev/loop0', '--volume', 'Data', '--mount-dir', mnt, '--owner', '1000'], c.io);
  t.equal(code, 64);
  t.match(c.err(), /--device: got "dev\/loop0", expected an absolute path/);
  t.match(c.err(), /--volume: got "Data", expected the pod volume name of the block volume/);
  t.match(c.err(), /--owner: got "1000", expected UID:GID/);
  t.notMatch(c.err(), /--mount-dir/, 'a good flag is not reported');
});

void t.test('a missing or short workload secret, or a missing mount directory, is a configuration error; the device is never touched', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--workload-secret', join(dir, 'absent')], /--workload-secret: got ".*absent", expected a readable file of at least 32 bytes .*unreadable \(ENOENT\)/],
    [['--workload-secret', shortSecret], /it is 8 bytes/],
    [['--workload-secret', secret, '--mount-dir', join(dir, 'nope')], /--mount-dir: got ".*nope", expected an existing directory/],
    [['--workload-secret', secret, '--mount-dir', secret], /--mount-dir: got ".*secret", expected an existing directory/],
  ];
  for (const [extra, want] of cases) {
    const runner = new NoRunner();
    const args = ['--device', '/dev/loop0', '--volume', 'data', ...(extra.includes('--mount-dir') ? [] : ['--mount-dir', mnt]), ...extra];
    const err = await securePvCommand(args, io().io, runner).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof ConfigError, `ConfigError (exit 64) for ${extra.join(' ')}`);
    t.match(String((err as Error | undefined)?.message), want);
    t.same(runner.calls, [], 'no command ran');
  }
});

void t.test('--check-mounted: 1 for a plain directory and for a mount point of anything but the volume; other flags are refused with it', async (t) => {
  // In the helper the mount volume is itself a bind mount: being a mount point must not pass the probe.
  t.equal(await securePvCommand(['--check-mounted', '--volume', 'data', '--mount-dir', '/proc'], io().io, new NoRunner()), 1);
  t.equal(await securePvCommand(['--check-mounted', '--volume', 'data', '--mount-dir', mnt], io().io, new NoRunner()), 1);
  const c = io();
  t.equal(await runCli(['secure-pv', '--check-mounted', '--volume', 'data', '--mount-dir', mnt, '--device', '/dev/x'], c.io), 64);
  t.match(c.err(), /--device: got "\/dev\/x", expected nothing with --check-mounted/);
});
