/**
 * The workload owner's workspace (`--dir`, default "."): what `ccmesh manifest init` creates and `set`, `verify`
 * and `recover` read and write. Private keys are 0600; every file is replaced atomically.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from '../contract/manifest/parse.js';
import { manifestTrustWarnings, trustWarningLine } from '../contract/manifest/trust-warnings.js';
import { meshOwnerOf } from '../contract/mesh-owner.js';
import { parseMeshOwnerPin } from '../lib/protocol/mesh-owner.js';
import type { Manifest } from '../contract/manifest/types.js';
import { CcmeshError, ConfigError, describeError, describeSystemError, ErrorCode } from '../lib/errors.js';
import { readBoundedFile, readInput } from './read-input.js';
import { writeFileAtomic } from '../lib/fs/atomic-write.js';
import { makeDirs } from '../lib/fs/make-dirs.js';

/** Paths inside a workspace. */
export function workspacePaths(dir: string) {
  return {
    dir,
    manifest: join(dir, 'manifest.json'),
    policies: join(dir, 'policies'),
    ownerKey: join(dir, 'keys', 'workload-owner.pem'),
    seedshareKey: join(dir, 'keys', 'seedshare-owner.pem'),
    rootCa: join(dir, 'root-ca.pem'),
    meshCa: join(dir, 'mesh-ca.pem'),
    seedShares: join(dir, 'seed-shares.json'),
    meshOwner: join(dir, 'mesh-owner'),
    verifyDir: join(dir, 'verify'),
  };
}

async function readOrExplain(path: string, what: string): Promise<Buffer> {
  try {
    return Buffer.from(await readBoundedFile(path));
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read the ${what} ${path} (${describeSystemError(err)}); create a workspace with "ccmesh manifest init --dir DIR"`, { cause: err });
  }
}

/**
 * Reads and parses the workspace manifest; parse errors list every problem with its JSON path. Alternatives that
 * weaken attestation on purpose (`allowUnmeasured`, `allowUnevaluatedTcb`) are announced on `warn` (stderr).
 */
export async function readWorkspaceManifest(dir: string, warn: (line: string) => void): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
  const p = workspacePaths(dir).manifest;
  const bytes = new Uint8Array(await readOrExplain(p, 'manifest'));
  let manifest: Manifest;
  try {
    manifest = parseManifest(bytes);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`manifest ${p}`, err.issues);
    throw err;
  }
  for (const w of manifestTrustWarnings(manifest)) warn(trustWarningLine(w, p));
  return { bytes, manifest };
}

/** Every regular file in the workspace's policies/ folder (the raw policy / initdata documents). */
export async function readWorkspacePolicies(dir: string): Promise<Uint8Array[]> {
  const folder = workspacePaths(dir).policies;
  const names = await readdir(folder).catch(() => [] as string[]);
  const out: Uint8Array[] = [];
  for (const n of names.sort()) {
    const p = join(folder, n);
    if ((await stat(p)).isFile()) out.push(await readInput('--dir', p));
  }
  return out;
}

/** Loads a private key file of the workspace. */
export async function readWorkspaceKey(path: string, what: string): Promise<KeyObject> {
  const pem = await readOrExplain(path, what);
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${path} is not a readable private key (${describeError(err)})`, { cause: err });
  }
}

/** Creates the owner keys (ECDSA P-384 workload owner, RSA-4096 seed-share owner) if absent; returns SPKI hex. */
export async function ensureWorkspaceKeys(dir: string): Promise<{ ownerSpkiHex: string; seedshareSpkiHex: string; created: string[] }> {
  const p = workspacePaths(dir);
  await makeDirs(join(dir, 'keys'), 0o700);
  await makeDirs(p.policies);
  const created: string[] = [];
  const ensure = async (path: string, make: () => KeyObject): Promise<KeyObject> => {
    const exists = await stat(path).then(() => true, () => false);
    if (exists) return readWorkspaceKey(path, 'key');
    const key = make();
    await writeFileAtomic(path, key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    created.push(path);
    return key;
  };
  const owner = await ensure(p.ownerKey, () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
  const seedshare = await ensure(p.seedshareKey, () => generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey);
  const spki = (k: KeyObject): string => Buffer.from(createPublicKeyDer(k)).toString('hex');
  return { ownerSpkiHex: spki(owner), seedshareSpkiHex: spki(seedshare), created };
}

function createPublicKeyDer(k: KeyObject): Buffer {
  return (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' });
}

/**
 * The mesh owner pin of the workspace: the `mesh-owner` file `ccmesh set` writes at the first set, or — before that —
 * the pin of the workspace manifest's key set (what the first set will make the owner).
 */
export async function readWorkspaceMeshOwner(dir: string, manifest: Manifest): Promise<{ pin: Uint8Array; source: 'file' | 'manifest' }> {
  const path = workspacePaths(dir).meshOwner;
  const text = await readFile(path, 'utf8').then((t) => t.trim(), () => undefined);
  if (text === undefined) return { pin: meshOwnerOf(manifest), source: 'manifest' };
  const pin = parseMeshOwnerPin(text);
  if (!pin) throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${path} is not a mesh owner pin (64 hex digits)`);
  return { pin, source: 'file' };
}

/** True when the workspace already belongs to a mesh that was set (`mesh-owner`, `root-ca.pem` or seed shares). */
export async function workspaceHoldsMesh(dir: string): Promise<string | undefined> {
  const p = workspacePaths(dir);
  for (const f of [p.meshOwner, p.seedShares, p.rootCa]) if (await stat(f).then(() => true, () => false)) return f;
  return undefined;
}
