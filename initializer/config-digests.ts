/**
 * Config volume integrity: the manifest pins SHA-256 digests of the files under a pod's ConfigMap/Secret mounts,
 * and the initializer refuses to release secrets unless what is mounted is exactly that — no file missing, none
 * extra, none changed. The host controls volumes, so every path is resolved carefully: regular files only, and a
 * symlink counts only if it resolves inside its mount (Kubernetes' `..data` → timestamped-dir layout does).
 *
 * Each pinned file is read once, through one file descriptor, into memory; the digest is computed over those bytes
 * and the same bytes are handed back ({@link VerifiedFile}), so a caller that writes them (the verified copy,
 * config-copy.ts) writes exactly what was hashed — there is no second read for the host to race.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** Mount path → relative file path → SHA-256 hex. */
export type ConfigDigests = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** Largest file hashed (ConfigMaps are capped at 1 MiB by Kubernetes). */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;
/** Most files looked at under one mount. */
export const MAX_CONFIG_FILES = 4096;

/** One problem with a mounted config file. */
export interface DigestProblem {
  readonly mount: string;
  readonly file: string;
  readonly problem: 'missing' | 'extra' | 'mismatch' | 'not-a-regular-file' | 'escapes-mount' | 'unreadable' | 'too-large';
  readonly detail?: string;
}

/** A pinned file as read and verified: the exact bytes whose digest matched, and the mode/owner of their file. */
export interface VerifiedFile {
  /** Visible path relative to the mount, `/`-separated (never through `..data`). */
  readonly path: string;
  readonly bytes: Uint8Array;
  /** Permission bits of the file the bytes were read from (`st_mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** What reading the pinned mounts found: every problem, and per mount the files read (complete only without problems). */
export interface ConfigReadResult {
  readonly problems: readonly DigestProblem[];
  /** Mount path (as keyed in the digests) → its verified files, sorted by path. */
  readonly mounts: ReadonlyMap<string, readonly VerifiedFile[]>;
}

/** Checks every pinned mount; returns the problems (empty = everything matches). */
export async function checkConfigDigests(digests: ConfigDigests): Promise<DigestProblem[]> {
  return [...(await readConfigMounts(digests)).problems];
}

/** Reads every pinned file of every pinned mount once, verifying each against its digest. */
export async function readConfigMounts(digests: ConfigDigests): Promise<ConfigReadResult> {
  const problems: DigestProblem[] = [];
  const mounts = new Map<string, VerifiedFile[]>();
  for (const [mount, files] of Object.entries(digests)) mounts.set(mount, await readMount(mount, files, problems));
  return { problems, mounts };
}

async function readMount(mount: string, expected: Readonly<Record<string, string>>, problems: DigestProblem[]): Promise<VerifiedFile[]> {
  let root: string;
  try {
    root = await realpath(mount);
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    problems.push(...Object.keys(expected).map((file) => ({ mount, file, problem: 'missing' as const, detail: `mount ${mount} is not readable (${err instanceof Error ? err.message : String(err)})` })));
    return [];
  }
  const mine: DigestProblem[] = [];
  const seen = await listVisibleFiles(root, mount, mine);
  const out: VerifiedFile[] = [];
  for (const [file, want] of Object.entries(expected)) {
    if (!seen.has(file)) {
      if (!mine.some((p) => p.file === file)) mine.push({ mount, file, problem: 'missing' });
      continue;
    }
    const read = await readInside(root, join(root, file), mount, file, mine);
    if (read === undefined) continue;
    const digest = createHash('sha256').update(read.bytes).digest('hex');
    if (digest !== want.toLowerCase()) mine.push({ mount, file, problem: 'mismatch', detail: `sha256 ${digest}, pinned ${want.toLowerCase()}` });
    else out.push(read);
  }
  for (const file of seen.keys()) if (!Object.hasOwn(expected, file)) mine.push({ mount, file, problem: 'extra' });
  problems.push(...mine);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Files a container would see under the mount, as relative paths. Names starting with `..` are Kubernetes'
 * bookkeeping (`..data`, `..2024_…`) and reached only through the visible symlinks; directories are walked.
 */
async function listVisibleFiles(root: string, mount: string, problems: DigestProblem[]): Promise<Map<string, true>> {
  const out = new Map<string, true>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (name.startsWith('..')) continue;
      if (out.size >= MAX_CONFIG_FILES) {
        problems.push({ mount, file: relative(root, join(dir, name)), problem: 'extra', detail: `more than ${MAX_CONFIG_FILES} files` });
        return;
      }
      const path = join(dir, name);
      const rel = relative(root, path).split(sep).join('/');
      const target = await resolveInside(root, path);
      if (target === undefined) {
        problems.push({ mount, file: rel, problem: 'escapes-mount', detail: 'a symlink that resolves outside the mount' });
        continue;
      }
      const st = await stat(target);
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) out.set(rel, true);
      else problems.push({ mount, file: rel, problem: 'not-a-regular-file' });
    }
  };
  await walk(root);
  return out;
}

/** realpath of `path` if it stays inside `root`, else undefined. */
async function resolveInside(root: string, path: string): Promise<string | undefined> {
  const real = await realpath(path);
  return real === root || real.startsWith(root + sep) ? real : undefined;
}

/**
 * Reads one pinned file through a single descriptor: resolved inside the mount, opened without following a final
 * symlink (a swap after realpath fails as unreadable) and without blocking (a FIFO planted there can't stall the
 * pod), then checked (regular file, size) and read from that same descriptor, bounded even if the file grows.
 * Whatever the host does to the path afterwards, the bytes returned are the ones the caller hashes.
 */
async function readInside(root: string, path: string, mount: string, file: string, problems: DigestProblem[]): Promise<VerifiedFile | undefined> {
  try {
    const target = await resolveInside(root, path);
    if (target === undefined) {
      problems.push({ mount, file, problem: 'escapes-mount' });
      return undefined;
    }
    const fh = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        problems.push({ mount, file, problem: 'not-a-regular-file' });
        return undefined;
      }
      if (st.size > MAX_CONFIG_FILE_BYTES) {
        problems.push({ mount, file, problem: 'too-large', detail: `${st.size} bytes` });
        return undefined;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      const buf = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > MAX_CONFIG_FILE_BYTES) {
          problems.push({ mount, file, problem: 'too-large', detail: `grew past ${MAX_CONFIG_FILE_BYTES} bytes while read` });
          return undefined;
        }
        chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
      }
      return { path: file, bytes: new Uint8Array(Buffer.concat(chunks, total)), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    } finally {
      await fh.close();
    }
  } catch (err) {
    problems.push({ mount, file, problem: 'unreadable', detail: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

/** One line per problem, naming the file: for the refusal message. */
export function describeDigestProblems(problems: readonly DigestProblem[]): string {
  return problems.map((p) => `${p.mount}/${p.file}: ${p.problem}${p.detail ? ` (${p.detail})` : ''}`).join('\n');
}
