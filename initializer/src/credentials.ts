/**
 * Writing what the Coordinator issued: key.pem (0400), chain.pem, mesh-ca.pem, root-ca.pem into the TLS dir and the
 * workload secret (0400) into its own path, each atomically (temp + fsync + rename + dir fsync), so the sidecar or
 * the app never reads a partial file. Then ownership: the TLS files go to the sidecar's uid (it renews into the
 * directory), the secret to the app's uid when one is given. The key is written last-but-one and the chain last, so a reader that sees
 * the chain also sees its key.
 */
import { chown, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import { PATHS } from '../../lib/well-known.js';

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
  await mkdir(tlsDir, { recursive: true, mode: 0o755 });
  await mkdir(dirname(secretPath), { recursive: true, mode: 0o700 });
  const paths = {
    rootCa: join(tlsDir, PATHS.rootCaFile),
    meshCa: join(tlsDir, PATHS.meshCaFile),
    key: join(tlsDir, PATHS.keyFile),
    chain: join(tlsDir, PATHS.chainFile),
  };
  await writeFileAtomic(paths.rootCa, c.rootCa, 0o444);
  await writeFileAtomic(paths.meshCa, c.meshCaBundle, 0o444);
  await writeFileAtomic(paths.key, c.key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o400);
  await writeFileAtomic(paths.chain, c.certChain, 0o444);
  await writeFileAtomic(secretPath, c.workloadSecret, 0o400);
  // Ownership last: every file exists whole before anyone else may read it; the key stays 0400 (its owner only).
  if (owners.tls !== undefined) {
    for (const p of [tlsDir, paths.rootCa, paths.meshCa, paths.key, paths.chain]) await chown(p, owners.tls, owners.tls);
  }
  if (owners.secret !== undefined) {
    for (const p of [dirname(secretPath), secretPath]) await chown(p, owners.secret, owners.secret);
  }
  return [paths.rootCa, paths.meshCa, paths.key, paths.chain, secretPath];
}
