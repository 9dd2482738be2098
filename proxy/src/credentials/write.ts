/**
 * Writing a renewed generation to the TLS directory so that no reader ever pairs a key with another key's leaf:
 * the CA files go first (each atomically), then key and chain are staged as fsynced temporary files and renamed
 * into place back to back. A reader that lands between the two renames sees a key that does not match the leaf,
 * which `buildGeneration` rejects as "mid-update" — the sidecar's watch keeps the old generation and the debounced
 * re-read a moment later sees the completed pair. (A directory-symlink swap would avoid even that window, but the
 * initializer and docs/design.md §5 fix plain files at /ccmesh/tls/{key,chain,mesh-ca,root-ca}.pem.)
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { PATHS } from '../../../lib/well-known.js';
import type { CredentialFiles } from './generation.js';

/** Writes `files` into `dir` in the order described above. Key and chain get mode 0600. */
export async function writeCredentialFiles(dir: string, files: CredentialFiles): Promise<void> {
  await writeFileAtomic(join(dir, PATHS.rootCaFile), files.rootCa, 0o644);
  await writeFileAtomic(join(dir, PATHS.meshCaFile), files.meshCaBundle, 0o644);
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const keyTmp = join(dir, `.${PATHS.keyFile}.${suffix}`);
  const chainTmp = join(dir, `.${PATHS.chainFile}.${suffix}`);
  try {
    await stage(keyTmp, files.key);
    await stage(chainTmp, files.chain);
    await rename(keyTmp, join(dir, PATHS.keyFile));
    await rename(chainTmp, join(dir, PATHS.chainFile));
  } catch (err) {
    await Promise.all([rm(keyTmp, { force: true }), rm(chainTmp, { force: true })]);
    throw err;
  }
  await syncDir(dir);
}

async function stage(path: string, data: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
