/**
 * A signed SetManifest request: a fresh Coordinator nonce, the signer's SPKI and a signature over the manifest, every
 * policy document, the nonce and the Coordinator's TLS key (`setManifestSignedData`). The first set is signed by a
 * key the manifest names (it becomes the mesh owner, `mesh-owner.ts`), every later one by a current workload owner.
 * ECDSA keys sign with SHA-256; RSA keys (seed-share owners, for a mesh without workload owner keys) with PSS.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { setManifestSignedData, signBinding } from './binding.js';
import type { PinnedClient } from './client.js';
import type { SetManifestRequest, UserApiMethods } from './messages.js';

/** Builds the request over `client` (whose pinned TLS key the signature binds). */
export async function signedSetManifestRequest(client: Pick<PinnedClient<UserApiMethods>, 'nonce' | 'spki'>, manifest: Uint8Array, policies: readonly Uint8Array[], key: KeyObject): Promise<SetManifestRequest> {
  const nonce = await client.nonce();
  return {
    manifest,
    policies,
    nonce,
    ownerKey: Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })).toString('hex'),
    signature: signBinding(setManifestSignedData(manifest, policies, nonce, client.spki), key),
  };
}
