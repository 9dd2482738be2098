/**
 * The store directory's single-process lock: a `LOCK` file holding the owner's pid and boot id. It is created
 * whole — written under a temporary name, then hard-linked into place, which fails if `LOCK` exists — so nobody
 * ever sees a half-written lock. A lock whose process is gone (dead pid, or written before the last reboot) is
 * stale and taken over; a live one refuses the second process with STORE_LOCKED.
 *
 * Known limit: two processes recovering the same stale lock at the same instant can both remove it before either
 * links its own; the read-back after linking catches most, not all, of that window. One Coordinator per
 * directory is a deployment rule; this lock catches mistakes, it is not a consensus protocol.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

/** Name of the lock file inside the store directory (upper case: never a store key). */
export const LOCK_FILE = 'LOCK';

const ATTEMPTS = 4;

/** A held directory lock. */
export interface DirLock {
  /** Removes the lock file if it is still ours. */
  release(): Promise<void>;
}

/** Takes the lock of `dir`, replacing a stale one; throws STORE_LOCKED while another live process holds it. */
export async function acquireDirLock(dir: string, log?: Logger): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${currentBootId()}\n`;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const tmp = join(dir, `.${LOCK_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(tmp, mine, { flag: 'wx', mode: 0o600 });
    let linked = false;
    try {
      await link(tmp, path);
      linked = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    if (linked) {
      // Read back: if a concurrent stale-lock recovery replaced ours in the meantime, it won, not us.
      if ((await readText(path)) === mine) return { release: () => releaseIfMine(path, mine) };
      continue;
    }
    const held = await readText(path);
    if (held === undefined) continue; // released between our link and our read: try again
    const holder = parseLock(held);
    if (holder !== undefined && isAlive(holder.pid, holder.bootId)) {
      throw new CcmeshError(
        ErrorCode.STORE_LOCKED,
        `store directory ${dir} is in use by process ${holder.pid} (lock file ${path}); stop that process first — ` +
          'only one Coordinator may use a store directory',
      );
    }
    log?.warn('removing stale store lock', { path, holder: held.trim().slice(0, 80) });
    await rm(path, { force: true });
  }
  throw new CcmeshError(ErrorCode.STORE_LOCKED, `could not take the lock ${path}: other processes keep replacing it`);
}

async function releaseIfMine(path: string, mine: string): Promise<void> {
  if ((await readText(path)) === mine) await rm(path, { force: true });
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// Anything else (say an empty file after a power loss) is stale: our own writer only ever links complete files.
function parseLock(text: string): { pid: number; bootId: string } | undefined {
  const m = /^([1-9][0-9]{0,9}) (\S+)\n$/.exec(text);
  if (m === null) return undefined;
  return { pid: Number(m[1]), bootId: m[2]! };
}

function isAlive(pid: number, bootId: string): boolean {
  const boot = currentBootId();
  // A pid from before the last reboot names some unrelated process now, if any.
  if (bootId !== '-' && boot !== '-' && bootId !== boot) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user — still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootIdCache: string | undefined;

// Linux names each boot; elsewhere '-' disables the reboot check and leaves the pid check.
function currentBootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || '-';
    } catch {
      bootIdCache = '-';
    }
  }
  return bootIdCache;
}
