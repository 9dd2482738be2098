/**
 * Writing generate's results into a workload owner's workspace (the layout of `ccmesh manifest init`):
 * `manifest.json` and `policies/<policy hash>` holding each entry's document. The Coordinator refuses a set whose
 * documents and policies don't pair up one to one, so documents of replaced entries are removed (only files named
 * by their hash, which is how generate names them) and any remaining mismatch is reported before `set` hits it.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifestDocument } from '../../contract/manifest/read-document.js';
import type { ManifestDocument } from '../../contract/manifest/types.js';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import { CcmeshError, ConfigError, describeError, ErrorCode } from '../../lib/errors.js';
import type { GeneratedEntry } from './manifest-entries.js';
import { makeDirs } from '../../lib/fs/make-dirs.js';

/**
 * Reads `manifest.json` of a workspace into the document form. Its shape is checked here, with every problem named
 * by its JSON path; its meaning only once generate has edited it (the edit may be what makes it valid).
 */
export async function readManifestDocumentFile(path: string): Promise<ManifestDocument> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read the manifest ${path} (${describeError(err)}); create a workspace with "ccmesh manifest init --dir DIR" and pass it as --workspace`, { cause: err });
  }
  try {
    return readManifestDocument(bytes);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`the workspace manifest ${path}`, err.issues);
    throw err;
  }
}

/** The text generate writes: the edited document in the file's key order, two-space indented, one final newline. */
export function manifestDocumentText(doc: ManifestDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

async function sameFile(path: string, data: Uint8Array): Promise<boolean> {
  const existing = await readFile(path).catch(() => undefined);
  return existing !== undefined && Buffer.compare(existing, data) === 0;
}

/**
 * Writes the manifest text and the entries' documents, then removes the documents of `removedHashes`. Files whose
 * content is already right are not rewritten. Returns the paths written and removed.
 */
export async function writeWorkspace(
  paths: { manifest: string; policies: string },
  manifestText: string,
  entries: readonly GeneratedEntry[],
  removedHashes: readonly string[],
): Promise<{ written: string[]; removed: string[] }> {
  const written: string[] = [];
  const removed: string[] = [];
  await makeDirs(paths.policies);
  // Documents first: a manifest naming a document that isn't there yet would be the worse half-state.
  for (const e of entries) {
    const p = join(paths.policies, e.policyHash);
    if (await sameFile(p, e.document)) continue;
    await writeFileAtomic(p, e.document, 0o644);
    written.push(p);
  }
  const bytes = Buffer.from(manifestText, 'utf8');
  if (!(await sameFile(paths.manifest, bytes))) {
    await writeFileAtomic(paths.manifest, bytes, 0o644);
    written.push(paths.manifest);
  }
  for (const h of removedHashes) {
    for (const name of new Set([h, h.toLowerCase()])) {
      const p = join(paths.policies, name);
      if (await stat(p).then((s) => s.isFile(), () => false)) {
        await rm(p);
        removed.push(p);
      }
    }
  }
  return { written, removed };
}

/**
 * Problems `ccmesh set` would refuse: documents in policies/ that no manifest policy names, and policies without
 * a document. `policyHashes` are the manifest's keys.
 */
export async function checkPolicyDocuments(policiesDir: string, policyHashes: readonly string[]): Promise<string[]> {
  const wanted = new Set(policyHashes.map((h) => h.toLowerCase()));
  const found = new Set<string>();
  const problems: string[] = [];
  const names = await readdir(policiesDir).catch(() => [] as string[]);
  for (const n of names.sort()) {
    const p = join(policiesDir, n);
    if (!(await stat(p)).isFile()) continue;
    const h = createHash('sha256').update(await readFile(p)).digest('hex');
    found.add(h);
    if (!wanted.has(h)) problems.push(`${p} (SHA-256 ${h}) is the document of no manifest policy; "ccmesh set" will refuse it — delete it or add its entry`);
  }
  for (const h of wanted) if (!found.has(h)) problems.push(`manifest policy ${h} has no document in ${policiesDir}; "ccmesh set" needs it`);
  return problems;
}
