/** Config volume checks on a real directory laid out like a Kubernetes ConfigMap mount. */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigDigests } from './config-digests.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A ConfigMap-style mount: ..2024_x/{files}, ..data -> ..2024_x, and one visible symlink per key. */
function configMap(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ccmesh-cm-'));
  const mount = join(root, 'etc-app');
  const ts = join(mount, '..2026_11_26_12_00_00.123');
  mkdirSync(ts, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(ts, name), body);
  symlinkSync('..2026_11_26_12_00_00.123', join(mount, '..data'));
  for (const name of Object.keys(files)) symlinkSync(`..data/${name}`, join(mount, name));
  return mount;
}

void t.test('a ConfigMap mount matching its pins passes; each deviation is named', async (t) => {
  const mount = configMap({ 'app.yaml': 'port: 8080\n', 'feature.flags': 'x=1\n' });
  t.teardown(() => rmSync(join(mount, '..'), { recursive: true, force: true }));
  const pins = { 'app.yaml': sha('port: 8080\n'), 'feature.flags': sha('x=1\n') };
  t.same(await checkConfigDigests({ [mount]: pins }), []);

  const changed = await checkConfigDigests({ [mount]: { ...pins, 'app.yaml': sha('port: 9090\n') } });
  t.same(changed.map((p) => [p.file, p.problem]), [['app.yaml', 'mismatch']]);

  const missing = await checkConfigDigests({ [mount]: { ...pins, 'secret.env': sha('') } });
  t.same(missing.map((p) => [p.file, p.problem]), [['secret.env', 'missing']]);

  writeFileSync(join(mount, 'planted.sh'), 'evil');
  const extra = await checkConfigDigests({ [mount]: pins });
  t.same(extra.map((p) => [p.file, p.problem]), [['planted.sh', 'extra']]);
  rmSync(join(mount, 'planted.sh'));

  symlinkSync('/etc/hostname', join(mount, 'escape'));
  const escape = await checkConfigDigests({ [mount]: { ...pins, escape: sha('x') } });
  t.ok(escape.some((p) => p.file === 'escape' && p.problem === 'escapes-mount'), 'a symlink out of the mount is refused');

  const gone = await checkConfigDigests({ [join(mount, 'nope')]: { 'a': sha('') } });
  t.same(gone.map((p) => p.problem), ['missing']);
});
