// The crash proof: a process killed (SIGKILL, no cleanup) after any step of a compare-and-swap leaves the
// entry exactly old or exactly new — never torn, never unreadable — and the next open recovers the dead lock.
// SIGKILL keeps the page cache, so this proves the ordering of the steps, not the disk's honouring of fsync.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATOMIC_WRITE_STEPS } from '../../lib/fs/atomic-write.js';
import { FileStore } from './file-store.js';
import { LOCK_FILE } from './lock-file.js';

const CHILD = fileURLToPath(new URL('../../test/support/coordinator/store-crash-child.js', import.meta.url));
const KEY = 'history/latest-ish';
const OLD = Buffer.from('old state '.repeat(200));
const NEW = Buffer.from('new state, longer than the old one '.repeat(300));

function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

for (const step of ATOMIC_WRITE_STEPS) {
  void t.test(`killed after "${step}": the entry is whole (old before the rename, new after)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-crash-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const before = await FileStore.open(dir);
    await before.compareAndSwap(KEY, 0, OLD);
    const old = await before.compareAndSwap(KEY, 1, OLD); // revision 2: "old" is not just "first"
    if (!old.ok) throw new Error('setup failed');
    await before.close();

    const r = await runChild([dir, KEY, String(old.revision), NEW.toString('hex'), step]);
    t.equal(r.signal, 'SIGKILL', `child died at the step (exit ${r.code}, stderr ${r.stderr.trim()})`);
    const deadLock = readFileSync(join(dir, LOCK_FILE), 'utf8');
    t.notMatch(deadLock, new RegExp(`^${process.pid} `), 'the dead child left its lock behind');
    const renamed = ATOMIC_WRITE_STEPS.indexOf(step) >= ATOMIC_WRITE_STEPS.indexOf('renamed');
    const temps = readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    t.equal(temps.length, renamed ? 0 : 1, renamed ? 'no temporary left' : 'the crash left its temporary file');

    const after = await FileStore.open(dir);
    t.teardown(() => after.close());
    t.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), new RegExp(`^${process.pid} `), 'the stale lock was recovered');
    const got = await after.get(KEY);
    const want = renamed ? { value: NEW, revision: old.revision + 1 } : { value: OLD, revision: old.revision };
    t.equal(got?.revision, want.revision, renamed ? 'new revision' : 'old revision');
    t.ok(got !== undefined && Buffer.compare(got.value, want.value) === 0, renamed ? 'exactly the new value' : 'exactly the old value');
    t.same(readdirSync(dir).sort(), [LOCK_FILE, entryFile()], 'no temporary file survives the reopen');
    // The store stays writable from the state the crash left.
    t.equal((await after.compareAndSwap(KEY, want.revision, Buffer.from('next'))).ok, true);
  });
}

function entryFile(): string {
  return KEY.replaceAll('/', '%2F');
}
