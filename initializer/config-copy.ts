/**
 * Config pins that hold for the pod's life: the bytes of every pinned file are read once, hashed and compared
 * (config-digests.ts), and those same bytes are written into an in-memory volume the app mounts instead of the
 * host-synced ConfigMap/Secret volume. The host can change what Kata syncs into the guest afterwards — the app never
 * reads it again.
 *
 * The copy (one directory per volume, `--config-volume NAME=MOUNT` → `<copy dir>/NAME`):
 * - holds exactly the pinned files under their visible names (`app.yaml`, `conf.d/site.conf`): Kubernetes'
 *   `..data` → `..<timestamp>` symlinks are resolved when reading and never reproduced, so the copy has no symlink;
 * - each file is written atomically (exclusive temp file, mode and owner set, fsync, rename, directory fsync), with
 *   the permission bits (setuid/setgid/sticky and group/other write dropped) and, as root, the owner of the file it
 *   was read from;
 * - nothing in the destination is followed: a symlink or special file anywhere in it is refused; anything else an
 *   earlier run left there that is no longer pinned is removed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { syncDir } from '../lib/fs/atomic-write.js';
import { type ConfigDigests, describeDigestProblems, readConfigMounts, type VerifiedFile } from './config-digests.js';
import { makeDirs } from '../lib/fs/make-dirs.js';

/** A pinned config volume the app reads only through its verified copy. */
export interface ConfigCopySpec {
  /** The pod's volume name (a DNS label): names the copy directory. */
  readonly volume: string;
  /** Where the initializer mounts the host-synced volume: the mount path keyed in the manifest's configDigests. */
  readonly mountPath: string;
  /** Directory the verified copy is written to (the in-memory volume the app mounts at `mountPath`). */
  readonly dest: string;
}

/** Observation points of {@link applyConfigPins} (tests only). */
export interface ApplyConfigOptions {
  /** Called after every pinned file was read and verified, before any copy is written. */
  readonly afterVerify?: () => Promise<void> | void;
  /** chown each copied file to its source's owner; default: when running as root. */
  readonly preserveOwner?: boolean;
}

/** What {@link applyConfigPins} did. */
export interface AppliedConfig {
  /** Volumes copied: name, destination and the number of files. */
  readonly copied: readonly { readonly volume: string; readonly dest: string; readonly files: number }[];
  /** Pinned mounts with no copy: checked at this instant only; the app reads the host-synced volume. */
  readonly checkedOnly: readonly string[];
}

/**
 * Verifies every pinned mount and writes the verified copies. Throws CONFIG_DIGEST_MISMATCH when a mount differs
 * from its pins or a copied volume has no pins at all (the app would otherwise read an unverified — or empty —
 * volume), and CONFIG_COPY_FAILED when a copy can't be written safely. Nothing is copied unless everything verified.
 */
export async function applyConfigPins(digests: ConfigDigests, copies: readonly ConfigCopySpec[], opts: ApplyConfigOptions = {}): Promise<AppliedConfig> {
  // SECURITY: a volume the pod reads only through its copy must be pinned; an unpinned one would be copied unverified.
  const unpinned = copies.filter((c) => !Object.hasOwn(digests, c.mountPath));
  if (unpinned.length > 0) {
    throw new CcmeshError(ErrorCode.CONFIG_DIGEST_MISMATCH, `the manifest's configDigests pin nothing for config volumes this pod reads only through a verified copy:\n${
      unpinned.map((c) => `${c.mountPath}: unpinned (volume "${c.volume}"; add its files' digests to the manifest)`).join('\n')}`);
  }
  const read = await readConfigMounts(digests);
  if (read.problems.length > 0) {
    // SECURITY: a mismatch is not retried and nothing is written: the host changed what the manifest pinned.
    throw new CcmeshError(ErrorCode.CONFIG_DIGEST_MISMATCH, `mounted config files do not match the manifest's configDigests:\n${describeDigestProblems(read.problems)}`);
  }
  await opts.afterVerify?.();
  const preserveOwner = opts.preserveOwner ?? process.geteuid?.() === 0;
  const copied: { volume: string; dest: string; files: number }[] = [];
  for (const c of copies) {
    const files = read.mounts.get(c.mountPath) ?? [];
    try {
      await writeConfigCopy(c.dest, files, preserveOwner);
    } catch (err) {
      if (err instanceof CcmeshError) throw err;
      throw new CcmeshError(ErrorCode.CONFIG_COPY_FAILED, `writing the verified copy of config volume "${c.volume}" to ${c.dest} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    copied.push({ volume: c.volume, dest: c.dest, files: files.length });
  }
  const copiedMounts = new Set(copies.map((c) => c.mountPath));
  return { copied, checkedOnly: Object.keys(digests).filter((m) => !copiedMounts.has(m)) };
}

function unsafe(dest: string, rel: string, what: string): CcmeshError {
  return new CcmeshError(ErrorCode.CONFIG_COPY_FAILED, `refusing to write the verified config copy in ${dest}: ${rel === '' ? dest : `${dest}/${rel}`} ${what}`);
}

/**
 * Writes `files` (verified bytes) into `dest`, so that afterwards `dest` holds exactly those files and the
 * directories they need. Never follows a symlink in `dest`: one anywhere in it is refused before anything changes.
 */
export async function writeConfigCopy(dest: string, files: readonly VerifiedFile[], preserveOwner: boolean): Promise<void> {
  await makeDirs(dest, 0o755);
  const top = await lstat(dest);
  if (!top.isDirectory()) throw unsafe(dest, '', top.isSymbolicLink() ? 'is a symlink' : 'is not a directory');
  const wantFiles = new Set<string>();
  const wantDirs = new Set<string>();
  for (const f of files) {
    const segments = f.path.split('/');
    if (!segments.every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\0'))) throw unsafe(dest, f.path, 'is not a normal relative path');
    wantFiles.add(f.path);
    for (let i = 1; i < segments.length; i++) wantDirs.add(segments.slice(0, i).join('/'));
  }
  // Inventory first (lstat only): a symlink or special file anywhere refuses the whole copy before any change.
  const existing = await inventory(dest);
  for (const [rel, kind] of existing) {
    if (kind === 'file' ? !wantFiles.has(rel) : !wantDirs.has(rel)) await rm(join(dest, rel), { recursive: true, force: true });
  }
  const touched = new Set<string>([dest]);
  for (const f of files) {
    const segments = f.path.split('/');
    let dir = dest;
    for (const s of segments.slice(0, -1)) {
      dir = join(dir, s);
      await mkdir(dir, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      const st = await lstat(dir);
      if (!st.isDirectory()) throw unsafe(dest, f.path, `needs ${dir} to be a directory, and it is ${st.isSymbolicLink() ? 'a symlink' : 'not one'}`);
      touched.add(dir);
    }
    await writeOne(dir, segments.at(-1)!, f, preserveOwner);
  }
  for (const d of touched) await syncDir(d);
}

/** Every entry below `dest` as file or dir, by relative path; anything else (symlink, FIFO, socket, device) is refused. */
async function inventory(dest: string): Promise<Map<string, 'file' | 'dir'>> {
  const out = new Map<string, 'file' | 'dir'>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(rel === '' ? dest : join(dest, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(dest, r));
      if (st.isSymbolicLink()) throw unsafe(dest, r, 'is a symlink');
      if (st.isDirectory()) {
        out.set(r, 'dir');
        await walk(r);
      } else if (st.isFile()) out.set(r, 'file');
      else throw unsafe(dest, r, 'is neither a regular file nor a directory');
    }
  };
  await walk('');
  return out;
}

/**
 * One file, atomically: an exclusive temp file (O_EXCL|O_NOFOLLOW: never an existing path, never through a link),
 * the verified bytes, mode and owner set on the descriptor, fsync, then rename over the name (rename replaces the
 * name itself; it follows nothing).
 */
async function writeOne(dir: string, name: string, f: VerifiedFile, preserveOwner: boolean): Promise<void> {
  const tmp = join(dir, `.${name}.ccmesh-copy.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(f.bytes);
    // SECURITY: read/execute bits only: a setuid/setgid/sticky bit, or group/other write access, chosen by the host
    // is not carried into the copy (no other container of the pod may rewrite verified config).
    await fh.chmod(f.mode & 0o755);
    if (preserveOwner) await fh.chown(f.uid, f.gid);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
