/**
 * The verified copy of pinned config volumes, on real directories laid out like Kubernetes ConfigMap mounts: the copy
 * holds exactly the bytes that were hashed even when the host rewrites the source between the check and the write
 * (in place, or by swapping `..data` the way the kubelet updates a ConfigMap); the `..data` layout becomes plain
 * files under their visible names; modes (and, as root, owners) are kept, setuid/setgid dropped; nothing in the
 * destination is followed; an unpinned copy or a mismatch writes nothing.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { applyConfigPins, type ConfigCopySpec } from './config-copy.js';
import type { ConfigDigests } from './config-digests.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const isRoot = process.geteuid?.() === 0;

/** A ConfigMap-style mount: `..<ts>/{files}`, `..data -> ..<ts>`, one visible symlink per top-level name. */
function configMap(parent: string, files: Record<string, string>, ts = '..2026_11_26_12_00_00.1'): string {
  const mount = join(parent, 'etc-app');
  mkdirSync(join(mount, ts), { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(mount, ts, name, '..'), { recursive: true });
    writeFileSync(join(mount, ts, name), body);
  }
  symlinkSync(ts, join(mount, '..data'));
  for (const top of new Set(Object.keys(files).map((f) => f.split('/')[0]!))) symlinkSync(`..data/${top}`, join(mount, top));
  return mount;
}

/** What the kubelet does on a ConfigMap update: a new timestamped dir, then `..data` swapped atomically. */
function kubeletUpdate(mount: string, files: Record<string, string>, ts = '..2026_12_01_00_00_00.2'): void {
  mkdirSync(join(mount, ts));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(mount, ts, name, '..'), { recursive: true });
    writeFileSync(join(mount, ts, name), body);
  }
  symlinkSync(ts, join(mount, '..data_tmp'));
  renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
}

/** Every entry below `dir` (relative) with its lstat kind. */
function tree(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).sort().flatMap((name) => {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(dir, r));
    return st.isSymbolicLink() ? [`${r} (symlink)`] : st.isDirectory() ? [`${r}/`, ...tree(dir, r)] : [r];
  });
}

function setup(t: { teardown: (fn: () => void) => void }, files: Record<string, string>): { root: string; mount: string; dest: string; pins: ConfigDigests; copy: ConfigCopySpec } {
  const root = mkdtempSync(join(tmpdir(), 'ccmesh-cfgcopy-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const mount = configMap(root, files);
  const dest = join(root, 'copy', 'settings');
  const pins = { [mount]: Object.fromEntries(Object.entries(files).map(([f, body]) => [f, sha(body)])) };
  return { root, mount, dest, pins, copy: { volume: 'settings', mountPath: mount, dest } };
}

async function refusal(p: Promise<unknown>): Promise<CcmeshError | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof CcmeshError ? err : undefined;
  }
  return undefined;
}

void t.test('the copy holds exactly the bytes that were hashed, even when the host rewrites the source between check and write', async (t) => {
  const files = { 'app.yaml': 'port: 8080\n', 'conf.d/site.conf': 'server { listen 80; }\n' };
  const { mount, dest, pins, copy } = setup(t, files);
  let rewritten = false;
  const done = await applyConfigPins(pins, [copy], {
    afterVerify: () => {
      // In place (same inode the check read) and by the kubelet's own update path, plus a new file.
      writeFileSync(join(mount, '..2026_11_26_12_00_00.1', 'app.yaml'), 'port: 6666\n');
      kubeletUpdate(mount, { 'app.yaml': 'port: 7777\n', 'conf.d/site.conf': 'server { listen 6666; }\n', 'planted.sh': 'evil' });
      symlinkSync('..data/planted.sh', join(mount, 'planted.sh'));
      rewritten = true;
    },
  });
  t.ok(rewritten, 'the source was rewritten after the check');
  t.equal(readFileSync(join(mount, 'app.yaml'), 'utf8'), 'port: 7777\n', 'control: the source now holds other bytes');
  t.equal(readFileSync(join(dest, 'app.yaml'), 'utf8'), 'port: 8080\n', 'the copy holds the verified app.yaml');
  t.equal(readFileSync(join(dest, 'conf.d', 'site.conf'), 'utf8'), 'server { listen 80; }\n', 'and the verified conf.d/site.conf');
  t.same(tree(dest), ['app.yaml', 'conf.d/', 'conf.d/site.conf'], 'exactly the pinned files: nothing planted, no ..data, no symlink, no temp file');
  t.same(done.copied, [{ volume: 'settings', dest, files: 2 }]);
  t.same(done.checkedOnly, []);
});

void t.test('modes are kept (setuid/setgid and group/other write dropped); as root, owners too', async (t) => {
  const { mount, dest, pins, copy } = setup(t, { 'app.yaml': 'a\n', 'secret.env': 'b\n', 'run.sh': 'c\n', 'shared.conf': 'd\n' });
  const real = join(mount, '..2026_11_26_12_00_00.1');
  chmodSync(join(real, 'app.yaml'), 0o644);
  chmodSync(join(real, 'secret.env'), 0o440);
  chmodSync(join(real, 'run.sh'), 0o6755);
  chmodSync(join(real, 'shared.conf'), 0o666);
  if (isRoot) chownSync(join(real, 'secret.env'), 1234, 5678);
  await applyConfigPins(pins, [copy]);
  t.equal(statSync(join(dest, 'app.yaml')).mode & 0o7777, 0o644);
  t.equal(statSync(join(dest, 'secret.env')).mode & 0o7777, 0o440);
  t.equal(statSync(join(dest, 'run.sh')).mode & 0o7777, 0o755, 'setuid and setgid are not carried into the copy');
  t.equal(statSync(join(dest, 'shared.conf')).mode & 0o7777, 0o644, 'nor write access for group and others (no other container may rewrite verified config)');
  if (isRoot) t.match(statSync(join(dest, 'secret.env')), { uid: 1234, gid: 5678 }, 'owner and group of the source (fsGroup readers keep access)');
  else t.pass('owner preservation needs root', { skip: 'not root' });
});

void t.test('a symlink in the destination is refused and nothing is written through it', async (t) => {
  for (const [what, plant] of [
    ['a directory the copy needs', (dest: string, outside: string) => symlinkSync(outside, join(dest, 'conf.d'))],
    ['a file name of the copy', (dest: string, outside: string) => symlinkSync(join(outside, 'victim'), join(dest, 'app.yaml'))],
    ['an unrelated name', (dest: string, outside: string) => symlinkSync(outside, join(dest, 'other'))],
  ] as const) {
    await t.test(what, async (t) => {
      const { root, dest, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n', 'conf.d/site.conf': 'x\n' });
      const outside = join(root, 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'victim'), 'untouched');
      mkdirSync(dest, { recursive: true });
      plant(dest, outside);
      const err = await refusal(applyConfigPins(pins, [copy]));
      t.equal(err?.code, ErrorCode.CONFIG_COPY_FAILED, `refused: ${err?.message}`);
      t.match(err?.message ?? '', /is a symlink/);
      t.same(readdirSync(outside), ['victim'], 'nothing written outside');
      t.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'untouched');
      t.notOk(existsSync(join(dest, 'conf.d', 'site.conf')) && !lstatSync(join(dest, 'conf.d')).isSymbolicLink(), 'no copy written');
    });
  }
  await t.test('the destination itself', async (t) => {
    const { root, dest, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n' });
    mkdirSync(join(root, 'outside'));
    mkdirSync(join(dest, '..'), { recursive: true });
    symlinkSync(join(root, 'outside'), dest);
    const err = await refusal(applyConfigPins(pins, [copy]));
    t.equal(err?.code, ErrorCode.CONFIG_COPY_FAILED);
    t.same(readdirSync(join(root, 'outside')), [], 'nothing written through it');
  });
});

void t.test('an earlier run\'s copy is replaced: files no longer pinned are removed', async (t) => {
  const { dest, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n' });
  mkdirSync(join(dest, 'old.d'), { recursive: true });
  writeFileSync(join(dest, 'old.d', 'x'), 'stale');
  writeFileSync(join(dest, 'app.yaml'), 'stale');
  writeFileSync(join(dest, '.app.yaml.ccmesh-copy.0123456789ab.tmp'), 'a crashed write');
  await applyConfigPins(pins, [copy]);
  t.same(tree(dest), ['app.yaml']);
  t.equal(readFileSync(join(dest, 'app.yaml'), 'utf8'), 'port: 8080\n');
});

void t.test('nothing is copied unless everything verified; a copied volume must be pinned', async (t) => {
  const { mount, dest, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n' });
  const unpinned = await refusal(applyConfigPins({}, [copy]));
  t.equal(unpinned?.code, ErrorCode.CONFIG_DIGEST_MISMATCH, 'a copy of an unpinned volume is refused');
  t.match(unpinned?.message ?? '', new RegExp(`${mount}: unpinned \\(volume "settings"`));
  t.notOk(existsSync(dest), 'and nothing written');

  const wrong = await refusal(applyConfigPins({ [mount]: { 'app.yaml': sha('port: 9090\n') } }, [copy]));
  t.equal(wrong?.code, ErrorCode.CONFIG_DIGEST_MISMATCH);
  t.match(wrong?.message ?? '', /app\.yaml: mismatch/);
  t.notOk(existsSync(dest), 'a mismatch writes no copy');

  const checkedOnly = await applyConfigPins(pins, []);
  t.same(checkedOnly, { copied: [], checkedOnly: [mount] }, 'pins without a copy are verified and reported as checked-only');
});

void t.test('a FIFO planted as a pinned file is refused without blocking the initializer', async (t) => {
  const { mount, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n' });
  const real = join(mount, '..2026_11_26_12_00_00.1', 'app.yaml');
  rmSync(real);
  if (spawnSync('mkfifo', [real]).status !== 0) {
    t.pass('mkfifo', { skip: 'mkfifo is not available' });
    return;
  }
  const err = await refusal(applyConfigPins(pins, [copy]));
  t.equal(err?.code, ErrorCode.CONFIG_DIGEST_MISMATCH);
  t.match(err?.message ?? '', /app\.yaml: (not-a-regular-file|missing)/);
});

void t.test('a FIFO in the destination refuses the copy before anything is written', async (t) => {
  const { dest, pins, copy } = setup(t, { 'app.yaml': 'port: 8080\n' });
  mkdirSync(dest, { recursive: true });
  if (spawnSync('mkfifo', [join(dest, 'pipe')]).status !== 0) {
    t.pass('mkfifo', { skip: 'mkfifo is not available' });
    return;
  }
  const err = await refusal(applyConfigPins(pins, [copy]));
  t.equal(err?.code, ErrorCode.CONFIG_COPY_FAILED, `refused: ${err?.message}`);
  t.match(err?.message ?? '', /pipe is neither a regular file nor a directory/);
  t.notOk(existsSync(join(dest, 'app.yaml')), 'no copy written');
});
