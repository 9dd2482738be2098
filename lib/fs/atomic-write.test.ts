import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

void t.test('replaces the file whole, with the requested mode, leaving no temporary files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'state.json');
  writeFileSync(p, 'old');
  await writeFileAtomic(p, 'new contents', 0o600);
  t.equal(readFileSync(p, 'utf8'), 'new contents');
  t.equal(statSync(p).mode & 0o777, 0o600);
  await writeFileAtomic(join(dir, 'pub.pem'), new Uint8Array([1, 2, 3]), 0o644);
  t.equal(statSync(join(dir, 'pub.pem')).mode & 0o777, 0o644 & ~process.umask());
  t.same(readdirSync(dir).sort(), ['pub.pem', 'state.json']);
});

void t.test('a failed write leaves the old file and no temporary file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'state.json');
  writeFileSync(p, 'old');
  // Renaming a file over a non-empty directory fails after the temporary file was written and synced.
  const blocker = join(dir, 'blocker');
  await writeFileAtomic(join(blocker + '-ok'), 'x');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(blocker, 'inner'), { recursive: true });
  await t.rejects(writeFileAtomic(blocker, 'data'));
  t.equal(readFileSync(p, 'utf8'), 'old');
  t.same(readdirSync(dir).sort(), ['blocker', 'blocker-ok', 'state.json']);
});
