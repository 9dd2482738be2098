/**
 * A signed SetManifest request: a fresh Coordinator nonce, the signer's SPKI and a signature over the manifest, every
 * policy document, the nonce and the Coordinator's TLS key (`setManifestSignedData`). The first set is signed by a
 * key the manifest names (it becomes the mesh owner, `mesh-owner.ts`), every later one by a current workload owner.
 * ECDSA keys sign with SHA-256; RSA keys (seed-share owners, for a mesh without workload owner keys) with PSS.
 */
import { constants, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { setManifestSignedData } from './binding.js';
import type { PinnedClient } from './client.js';
import { NONCE_LENGTH } from './messages.js';
import { b64, WireReader } from './wire.js';

/** Builds the request over `client` (whose pinned TLS key the signature binds). */
export async function signedSetManifestRequest(client: Pick<PinnedClient, 'call' | 'spki'>, manifest: Uint8Array, policies: readonly Uint8Array[], key: KeyObject): Promise<Record<string, unknown>> {
  const nonce = new WireReader('GetNonce response', await client.call('GetNonce', {})).bytes('nonce', NONCE_LENGTH, NONCE_LENGTH);
  const data = setManifestSignedData(manifest, policies, nonce, client.spki);
  const signature = sign('sha256', data, key.asymmetricKeyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key);
  return {
    manifest: b64(manifest),
    policies: policies.map(b64),
    nonce: b64(nonce),
    ownerKey: Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })).toString('hex'),
    signature: b64(signature),
  };
}
