import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../lib/errors.js';
import { FileStore, entryFileName, keyOfEntryFileName } from './file-store.js';
import { LOCK_FILE } from './lock-file.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-file-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

void t.test('entries persist across close and reopen, with their revisions', async (t) => {
  const dir = tempDir(t);
  const a = await FileStore.open(dir);
  const r1 = await a.compareAndSwap('history/x', 0, enc('v1'));
  const r2 = await a.compareAndSwap('history/x', r1.ok ? r1.revision : -1, enc('v2'));
  await a.compareAndSwap('state/salt', 0, enc('s'));
  await a.close();
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'close releases the lock');
  const b = await FileStore.open(dir);
  t.teardown(() => b.close());
  const got = await b.get('history/x');
  t.same({ v: dec(got?.value), r: got?.revision }, { v: 'v2', r: r2.ok ? r2.revision : -1 });
  t.same(await b.list(''), ['history/x', 'state/salt']);
  t.equal((await b.compareAndSwap('history/x', r1.ok ? r1.revision : -1, enc('stale'))).ok, false);
});

void t.test('one file per key, named by escaping "/"; the mapping is reversible and ignores strays', async (t) => {
  t.equal(entryFileName('manifests/ab'), 'manifests%2Fab');
  t.equal(keyOfEntryFileName('manifests%2Fab'), 'manifests/ab');
  for (const stray of [LOCK_FILE, '.x.tmp', 'a%2F', '%2Fa', 'a%2f', 'A']) t.equal(keyOfEntryFileName(stray), undefined, stray);
  const dir = tempDir(t);
  const s = await FileStore.open(dir);
  t.teardown(() => s.close());
  await s.compareAndSwap('manifests/ab', 0, enc('m'));
  writeFileSync(join(dir, 'README'), 'not an entry');
  t.same(readdirSync(dir).sort(), [LOCK_FILE, 'README', 'manifests%2Fab']);
  t.same(await s.list(''), ['manifests/ab']);
});

void t.test('a corrupt entry file is an error naming the file, never an empty or wrong value', async (t) => {
  const dir = tempDir(t);
  const s = await FileStore.open(dir);
  t.teardown(() => s.close());
  await s.compareAndSwap('k', 0, enc('hello'));
  await s.compareAndSwap('other', 0, enc('x'));
  const file = join(dir, 'k');
  const good = readFileSync(file);
  const cases: [string, Buffer][] = [
    ['flipped value byte', Buffer.concat([good.subarray(0, -1), Buffer.from('X')])],
    ['truncated', good.subarray(0, good.length - 2)],
    ['empty', Buffer.alloc(0)],
    ['no header', Buffer.from('hello')],
    ['copied from another key', readFileSync(join(dir, 'other'))],
    ['revision zero', Buffer.from(good.toString('latin1').replace(/^ccmesh-store\/1 1 /, 'ccmesh-store/1 0 '), 'latin1')],
  ];
  for (const [what, bytes] of cases) {
    writeFileSync(file, bytes);
    await t.rejects(s.get('k'), { code: ErrorCode.STORE_CORRUPT, message: new RegExp(file.replaceAll('/', '\\/')) }, what);
    await t.rejects(s.compareAndSwap('k', 1, enc('over')), { code: ErrorCode.STORE_CORRUPT }, `${what}: CAS refuses too`);
  }
  writeFileSync(file, good);
  t.equal(dec((await s.get('k'))?.value), 'hello');
});

void t.test('a second opener is refused with STORE_LOCKED while the first is alive', async (t) => {
  const dir = tempDir(t);
  const first = await FileStore.open(dir);
  await t.rejects(FileStore.open(dir), { code: ErrorCode.STORE_LOCKED, message: new RegExp(`process ${process.pid}`) });
  // Another live process: our parent.
  const boot = readFileSync(join(dir, LOCK_FILE), 'utf8').split(' ')[1]!.trim();
  await first.close();
  writeFileSync(join(dir, LOCK_FILE), `${process.ppid} ${boot}\n`);
  await t.rejects(FileStore.open(dir), { code: ErrorCode.STORE_LOCKED, message: new RegExp(`process ${process.ppid}`) });
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.ppid} ${boot}\n`, 'a live lock is left alone');
});

void t.test('stale locks (dead pid, other boot, unreadable) are recovered; temporaries are cleaned at open', async (t) => {
  const dir = tempDir(t);
  const s0 = await FileStore.open(dir);
  await s0.compareAndSwap('k', 0, enc('kept'));
  const boot = readFileSync(join(dir, LOCK_FILE), 'utf8').split(' ')[1]!.trim();
  await s0.close();
  const stale = [`${deadPid()} ${boot}\n`, `${process.pid} 00000000-0000-0000-0000-000000000000\n`, '', 'garbage'];
  for (const content of stale) {
    writeFileSync(join(dir, LOCK_FILE), content);
    writeFileSync(join(dir, '.k.1234.abcdef012345.tmp'), 'half a write');
    const s = await FileStore.open(dir);
    t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid} ${boot}\n`, `lock taken over from ${JSON.stringify(content)}`);
    t.same(readdirSync(dir).sort(), [LOCK_FILE, 'k'], 'temporary file removed');
    t.equal(dec((await s.get('k'))?.value), 'kept');
    await s.close();
  }
});

void t.test('close does not remove a lock that is no longer ours', async (t) => {
  const dir = tempDir(t);
  const s = await FileStore.open(dir);
  writeFileSync(join(dir, LOCK_FILE), `${process.ppid} someone-else\n`);
  await s.close();
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.ppid} someone-else\n`);
});
