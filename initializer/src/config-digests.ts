/**
 * Config volume integrity: the manifest pins SHA-256 digests of the files under a pod's ConfigMap/Secret mounts,
 * and the initializer refuses to release secrets unless what is mounted is exactly that — no file missing, none
 * extra, none changed. The host controls volumes, so every path is resolved carefully: regular files only, and a
 * symlink counts only if it resolves inside its mount (Kubernetes' `..data` → timestamped-dir layout does).
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
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

/** Checks every pinned mount; returns the problems (empty = everything matches). */
export async function checkConfigDigests(digests: ConfigDigests): Promise<DigestProblem[]> {
  const problems: DigestProblem[] = [];
  for (const [mount, files] of Object.entries(digests)) problems.push(...(await checkMount(mount, files)));
  return problems;
}

async function checkMount(mount: string, expected: Readonly<Record<string, string>>): Promise<DigestProblem[]> {
  const problems: DigestProblem[] = [];
  let root: string;
  try {
    root = await realpath(mount);
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    return Object.keys(expected).map((file) => ({ mount, file, problem: 'missing' as const, detail: `mount ${mount} is not readable (${err instanceof Error ? err.message : String(err)})` }));
  }
  const seen = await listVisibleFiles(root, mount, problems);
  for (const [file, want] of Object.entries(expected)) {
    const got = seen.get(file);
    if (got === undefined) {
      if (!problems.some((p) => p.file === file)) problems.push({ mount, file, problem: 'missing' });
      continue;
    }
    const digest = await hashInside(root, join(root, file), mount, file, problems);
    if (digest !== undefined && digest !== want.toLowerCase()) problems.push({ mount, file, problem: 'mismatch', detail: `sha256 ${digest}, pinned ${want.toLowerCase()}` });
  }
  for (const file of seen.keys()) if (!Object.hasOwn(expected, file)) problems.push({ mount, file, problem: 'extra' });
  return problems;
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

async function hashInside(root: string, path: string, mount: string, file: string, problems: DigestProblem[]): Promise<string | undefined> {
  try {
    const target = await resolveInside(root, path);
    if (target === undefined) {
      problems.push({ mount, file, problem: 'escapes-mount' });
      return undefined;
    }
    const st = await lstat(target);
    if (!st.isFile()) {
      problems.push({ mount, file, problem: 'not-a-regular-file' });
      return undefined;
    }
    if (st.size > MAX_CONFIG_FILE_BYTES) {
      problems.push({ mount, file, problem: 'too-large', detail: `${st.size} bytes` });
      return undefined;
    }
    return createHash('sha256').update(await readFile(target)).digest('hex');
  } catch (err) {
    problems.push({ mount, file, problem: 'unreadable', detail: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

/** One line per problem, naming the file: for the refusal message. */
export function describeDigestProblems(problems: readonly DigestProblem[]): string {
  return problems.map((p) => `${p.mount}/${p.file}: ${p.problem}${p.detail ? ` (${p.detail})` : ''}`).join('\n');
}
