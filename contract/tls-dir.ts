/**
 * The pod's TLS directory (`/ccmesh/tls`, docs/design.md §5): its file names, modes, owner, write order and
 * read-back, in one place. The initializer writes the first credentials (as root, then hands the directory to the
 * sidecar's uid); the sidecar writes renewals and new trust bundles into it; the sidecar reads it at start and on
 * every change.
 *
 * Write order: the CA files first, each atomically; then key and chain are staged as fsynced temporary files and
 * renamed into place back to back. A reader that lands between the two renames sees a key that does not match the
 * leaf, which the sidecar rejects as "mid-update" and reads again a moment later; it never pairs a key with a leaf of
 * another key. A crash between the two renames leaves exactly that state behind, with the leaf still staged:
 * {@link finishInterruptedWrite} completes it when the sidecar starts. Nothing is ever written through a file that is already there (links planted at a file's name are
 * replaced, not followed), the directory itself must be ours (checkTlsDir), and ownership is changed with lchown.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { lchown, lstat, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../lib/fs/atomic-write.js';
import { PATHS, PROXY_UID } from '../lib/pod-layout.js';
import { makeDirs } from '../lib/fs/make-dirs.js';

/** The four PEM files of the directory. */
export interface TlsFiles {
  readonly key: string;
  readonly chain: string;
  readonly meshCaBundle: string;
  readonly rootCa: string;
}

/** Modes of the files: the key readable by its owner only, the rest by anyone in the pod. */
export const TLS_FILE_MODES = Object.freeze({ key: 0o400, chain: 0o444, meshCaBundle: 0o444, rootCa: 0o444, dir: 0o755 });

/** Where each file lives in `dir`. */
export function tlsFilePaths(dir: string): Record<keyof TlsFiles, string> {
  return { key: join(dir, PATHS.keyFile), chain: join(dir, PATHS.chainFile), meshCaBundle: join(dir, PATHS.meshCaFile), rootCa: join(dir, PATHS.rootCaFile) };
}

/**
 * Writes all four files in the order above (the directory is made when missing); with `owner`, the directory and
 * the files are then handed to that uid — last, so every file exists whole before anyone else may read it.
 * Returns the paths written.
 */
export async function writeTlsFiles(dir: string, files: TlsFiles, opts: { owner?: number } = {}): Promise<string[]> {
  await makeDirs(dir, TLS_FILE_MODES.dir);
  await checkTlsDir(dir, opts.owner);
  const paths = tlsFilePaths(dir);
  await writeFileAtomic(paths.rootCa, files.rootCa, TLS_FILE_MODES.rootCa);
  await writeFileAtomic(paths.meshCaBundle, files.meshCaBundle, TLS_FILE_MODES.meshCaBundle);
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const keyTmp = join(dir, `.${PATHS.keyFile}.${suffix}`);
  const chainTmp = join(dir, `.${PATHS.chainFile}.${suffix}`);
  try {
    await stage(keyTmp, files.key, TLS_FILE_MODES.key);
    await stage(chainTmp, files.chain, TLS_FILE_MODES.chain);
    await rename(keyTmp, paths.key);
    await rename(chainTmp, paths.chain);
  } catch (err) {
    await Promise.all([rm(keyTmp, { force: true }), rm(chainTmp, { force: true })]);
    throw err;
  }
  await syncDir(dir);
  const written = [paths.rootCa, paths.meshCaBundle, paths.key, paths.chain];
  // lchown: never through a link, whatever stands at a name by now.
  if (opts.owner !== undefined) for (const p of [dir, ...written]) await lchown(p, opts.owner, opts.owner);
  return written;
}

/** Who may own the TLS directory: this process, root, and the sidecar (the uid it is handed to, 1337 by default). */
function trustedOwners(uid: number, owner: number | undefined): number[] {
  return [uid, 0, PROXY_UID, ...(owner === undefined ? [] : [owner])];
}

/**
 * Why `dir` is not a TLS directory of ours, or undefined when it is one. SECURITY: it must be a real directory (not
 * a link), owned by this process, root or the sidecar (or `owner`, the uid it is handed to), and writable by its owner
 * only. A directory another container of the pod created or swapped in (a writable `ccmesh` volume) would let it
 * replace key, chain and root under the sidecar: writers refuse to write into it and the sidecar refuses to start
 * from it.
 */
export async function tlsDirProblem(dir: string, owner?: number): Promise<string | undefined> {
  const st = await lstat(dir);
  const uid = process.getuid?.();
  return !st.isDirectory()
    ? 'is not a directory (a link or a file stands at its name)'
    : (st.mode & 0o022) !== 0
      ? `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
      : uid !== undefined && !trustedOwners(uid, owner).includes(st.uid)
        ? `belongs to uid ${st.uid}, not to this process (${uid}), root or the sidecar (${owner ?? PROXY_UID})`
        : undefined;
}

/** Refuses (CREDENTIALS_DIR_UNSAFE) to write into a directory {@link tlsDirProblem} finds a problem with. */
async function checkTlsDir(dir: string, owner: number | undefined): Promise<void> {
  const problem = await tlsDirProblem(dir, owner);
  if (problem !== undefined) throw new CcmeshError(ErrorCode.CREDENTIALS_DIR_UNSAFE, `the TLS directory ${dir} ${problem}: refusing to write credentials into it`);
}

/** Replaces the mesh CA bundle alone (a trust refresh: key and chain stay as they are). */
export async function writeTlsBundle(dir: string, meshCaBundle: string): Promise<void> {
  await writeFileAtomic(tlsFilePaths(dir).meshCaBundle, meshCaBundle, TLS_FILE_MODES.meshCaBundle);
}

/** Reads the four files; rejects on I/O errors (a missing file, permissions). */
export async function readTlsFiles(dir: string): Promise<TlsFiles> {
  const paths = tlsFilePaths(dir);
  const [key, chain, meshCaBundle, rootCa] = await Promise.all([paths.key, paths.chain, paths.meshCaBundle, paths.rootCa].map((p) => readFile(p, 'utf8')));
  return { key: key!, chain: chain!, meshCaBundle: meshCaBundle!, rootCa: rootCa! };
}

/** A new file with `data`, fsynced; never an existing one (O_EXCL), so never through a planted link. */
async function stage(path: string, data: string, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What {@link finishInterruptedWrite} found. */
export type InterruptedWrite = 'none' | 'completed' | 'cleaned';

const STAGED_RE = /^\.(key|chain)\.pem\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Finishes a write that a crash cut between the key's rename and the leaf's — the one window the write order leaves:
 * when `key.pem` does not match the leaf in `chain.pem` but a staged chain (`.chain.pem.<pid>.<rand>.tmp`) does, the
 * staged chain is renamed into place. Other staged files (a crash before either rename) are removed. Does nothing
 * unless the directory is ours ({@link tlsDirProblem}) — nobody else can have staged anything in it — and never
 * decides trust: the files it leaves are verified by the reader as always.
 */
export async function finishInterruptedWrite(dir: string): Promise<InterruptedWrite> {
  if ((await tlsDirProblem(dir).catch(() => 'unreadable')) !== undefined) return 'none';
  const staged = (await readdir(dir)).filter((n) => STAGED_RE.test(n)).sort();
  if (staged.length === 0) return 'none';
  const paths = tlsFilePaths(dir);
  const keyObject = await readFile(paths.key, 'utf8').then((pem) => createPrivateKey(pem), () => undefined);
  const matches = async (chainPath: string): Promise<boolean> => {
    try {
      const st = await lstat(chainPath);
      return st.isFile() && keyObject !== undefined && new X509Certificate(await readFile(chainPath)).checkPrivateKey(keyObject);
    } catch {
      return false;
    }
  };
  let result: InterruptedWrite = 'cleaned';
  if (keyObject !== undefined && !(await matches(paths.chain))) {
    for (const name of staged.filter((n) => n.startsWith('.chain.'))) {
      if (await matches(join(dir, name))) {
        await rename(join(dir, name), paths.chain);
        await syncDir(dir);
        result = 'completed';
        break;
      }
    }
  }
  for (const name of staged) await rm(join(dir, name), { force: true });
  return result;
}
