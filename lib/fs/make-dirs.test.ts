import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeDirs } from './make-dirs.js';

void t.test('creates missing parents, every created level with the mode; an existing directory is fine', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-make-dirs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const deep = join(dir, 'a', 'b', 'c');
  await makeDirs(deep, 0o700);
  t.equal(statSync(deep).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700, 'a created parent gets the mode too (a secret\'s parents are not world-listable)');
  await makeDirs(deep, 0o700);
  writeFileSync(join(dir, 'file'), 'x');
  await t.rejects(makeDirs(join(dir, 'file'), 0o700), { code: 'EEXIST' }, 'a file in its place');
  await t.rejects(makeDirs(join(dir, 'file', 'sub')), { code: 'ENOTDIR' }, 'a file as a parent');
});

void t.test('a path under /proc is an ordinary error, not an endless loop (Node 20 recursive mkdir spins there)', async (t) => {
  const started = Date.now();
  await t.rejects(makeDirs('/proc/ccmesh-make-dirs-test/x'), { code: 'ENOENT' });
  t.ok(Date.now() - started < 5000, 'returns promptly');
});
