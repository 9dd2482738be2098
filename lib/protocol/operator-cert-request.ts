/**
 * A signed IssueOperatorCert request: a fresh Coordinator nonce, the workload owner's SPKI and the owner's signature
 * over the operator's public key, the nonce and the Coordinator's TLS key (`operatorCertSignedData`).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { operatorCertSignedData, signBinding } from './binding.js';
import type { PinnedClient } from './client.js';
import type { OperatorCertRequest, UserApiMethods } from './messages.js';

/** Builds the request over `client` (whose pinned TLS key the signature binds) for `operatorKey`, signed by `ownerKey`. */
export async function signedOperatorCertRequest(client: Pick<PinnedClient<UserApiMethods>, 'nonce' | 'spki'>, operatorKey: KeyObject, ownerKey: KeyObject): Promise<OperatorCertRequest> {
  const nonce = await client.nonce();
  const publicKey = new Uint8Array(createPublicKey(operatorKey).export({ type: 'spki', format: 'der' }));
  return {
    publicKey,
    nonce,
    ownerKey: Buffer.from(createPublicKey(ownerKey).export({ type: 'spki', format: 'der' })).toString('hex'),
    signature: signBinding(operatorCertSignedData(publicKey, nonce, client.spki), ownerKey),
  };
}
