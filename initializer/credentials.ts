/**
 * Writing what the Coordinator issued: the TLS directory through contract/tls-dir.ts (the one owner of its layout,
 * modes and write order; handed to the sidecar's uid, which renews into it) and the workload secret (0400, atomic)
 * into its own 0700 directory, handed to the app's uid when one is given.
 */
import { chown } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { writeFileAtomic } from '../lib/fs/atomic-write.js';
import { writeTlsFiles } from '../contract/tls-dir.js';
import { makeDirs } from '../lib/fs/make-dirs.js';

/** What a successful NewMeshCert hands the pod. */
export interface IssuedCredentials {
  readonly key: KeyObject;
  readonly certChain: string;
  readonly meshCaBundle: string;
  readonly rootCa: string;
  readonly workloadSecret: Uint8Array;
}

/** Who owns what is written (the initializer runs as root; the sidecar and the app usually don't). */
export interface CredentialOwners {
  /** Owner of the TLS directory and its files: the sidecar's uid, which renews into that directory. */
  readonly tls?: number;
  /** Owner of the workload secret and its directory: the app's uid. */
  readonly secret?: number;
}

/** Writes the credentials; returns the paths written. */
export async function writeCredentials(tlsDir: string, secretPath: string, c: IssuedCredentials, owners: CredentialOwners = {}): Promise<string[]> {
  await makeDirs(dirname(secretPath), 0o700);
  // The TLS directory's layout, modes, order and ownership belong to contract/tls-dir.ts (the sidecar writes there too).
  const tls = await writeTlsFiles(tlsDir, { key: c.key.export({ type: 'pkcs8', format: 'pem' }) as string, chain: c.certChain, meshCaBundle: c.meshCaBundle, rootCa: c.rootCa }, owners.tls === undefined ? {} : { owner: owners.tls });
  await writeFileAtomic(secretPath, c.workloadSecret, 0o400);
  // Ownership last: the secret exists whole before its owner may read it; it stays 0400 (its owner only).
  if (owners.secret !== undefined) {
    for (const p of [dirname(secretPath), secretPath]) await chown(p, owners.secret, owners.secret);
  }
  return [...tls, secretPath];
}
