/**
 * Durable, all-or-nothing file replacement: write a temporary file in the same directory, fsync it, rename it over
 * the target, fsync the directory. A crash at any step leaves either the old file or the new one, never a torn mix
 * — the rule for every piece of state ccmesh keeps (keys, certificates, caches, the Coordinator store).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The write steps, in order; {@link AtomicWriteOptions.onStep} is told after each one completes. */
export const ATOMIC_WRITE_STEPS = ['created', 'written', 'synced', 'renamed', 'dir-synced'] as const;

/** One completed step of {@link writeFileAtomic}. */
export type AtomicWriteStep = (typeof ATOMIC_WRITE_STEPS)[number];

/** Optional observation points of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Called synchronously after each step; the crash tests kill the process here to prove every step is safe. */
  readonly onStep?: (step: AtomicWriteStep) => void;
}

/** Replaces `path` with `data` atomically and durably; the file gets `mode` (default 0600) from its creation. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  mode = 0o600,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const step = options.onStep ?? noStep;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' never follows or reuses an existing path; the random suffix keeps concurrent writers apart.
    const fh = await open(tmp, 'wx', mode);
    try {
      step('created');
      await fh.writeFile(data);
      step('written');
      await fh.sync();
      step('synced');
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    step('renamed');
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
  step('dir-synced');
}

function noStep(_step: AtomicWriteStep): void {
  // No observer: production writes.
}

/** fsyncs a directory so a rename in it is durable; platforms that cannot (EISDIR/EINVAL/EPERM) are skipped. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await fh.close();
  }
}
