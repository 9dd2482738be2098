/**
 * Durable, all-or-nothing file replacement: write a temporary file in the same directory, fsync it, rename it over
 * the target, fsync the directory. A crash at any step leaves either the old file or the new one, never a torn mix
 * — the rule for every piece of state ccmesh keeps (keys, certificates, caches, the Coordinator store).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Replaces `path` with `data` atomically and durably; the file gets `mode` (default 0600) from its creation. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' never follows or reuses an existing path; the random suffix keeps concurrent writers apart.
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
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
