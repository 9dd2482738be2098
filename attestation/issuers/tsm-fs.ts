/**
 * The few filesystem operations the configfs-tsm issuer needs, behind an interface so tests can run it against an
 * in-memory tree that follows the kernel's rules ({@link FakeTsmFs}) or a temporary directory, and production
 * against /sys/kernel/config/tsm/report.
 *
 * Errors keep Node's shape: an Error whose `code` is the errno name ("ENOENT", "EFBIG"), so the issuer can map
 * them the same way whichever implementation raised them.
 */
import { constants } from 'node:fs';
import { mkdir, open, rmdir, stat } from 'node:fs/promises';

/** Filesystem access for configfs-tsm. Paths are absolute POSIX paths. */
export interface TsmFs {
  /** True when `path` exists and is a directory. */
  isDirectory(path: string): Promise<boolean>;
  /** Creates one directory (configfs: a new report request). Fails with EEXIST, ENOENT, ENXIO, EACCES… */
  mkdir(path: string): Promise<void>;
  /** Removes one directory (configfs: releases the request). */
  rmdir(path: string): Promise<void>;
  /**
   * Reads a file, but never more than `maxBytes + 1` bytes: a result longer than `maxBytes` means "too large", and
   * a hostile or broken attribute can't make us buffer without bound.
   */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  /** Writes `data` in one open/write/close; configfs applies binary attributes when the file is closed. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

/** The errno name of a filesystem error ("ENOENT"), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

const READ_CHUNK = 8192;

/** {@link TsmFs} over the real filesystem (configfs in a guest, a temporary tree in tests). */
export const nodeTsmFs: TsmFs = Object.freeze({
  async isDirectory(path: string): Promise<boolean> {
    try {
      return (await stat(path)).isDirectory();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
      throw err;
    }
  },
  async mkdir(path: string): Promise<void> {
    await mkdir(path);
  },
  async rmdir(path: string): Promise<void> {
    await rmdir(path);
  },
  async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    // configfs attributes report size 4096 or 0 whatever they hold, so read to EOF instead of trusting stat.
    const fh = await open(path, constants.O_RDONLY);
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      while (total <= maxBytes) {
        const buf = Buffer.alloc(Math.min(READ_CHUNK, maxBytes + 1 - total));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        chunks.push(buf.subarray(0, bytesRead));
        total += bytesRead;
      }
      return new Uint8Array(Buffer.concat(chunks, total));
    } finally {
      await fh.close();
    }
  },
  async writeFile(path: string, data: Uint8Array): Promise<void> {
    // No O_CREAT: every configfs attribute already exists, and a missing one (an older kernel without privlevel)
    // must be an ENOENT, not a stray regular file. O_WRONLY because configfs refuses O_RDWR on write-only attributes.
    const fh = await open(path, constants.O_WRONLY | constants.O_TRUNC);
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, null);
        done += bytesWritten;
      }
    } finally {
      await fh.close();
    }
  },
});
