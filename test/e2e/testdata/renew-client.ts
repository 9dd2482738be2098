/**
 * The e2e suite's renewal client: what a sidecar sends to `RenewMeshCert`, with a leaf of the caller's choosing
 * (`ip netns exec NS node renew-client.js JSON`, JSON = {coordinator, chain, key}). It pins the Coordinator's TLS key,
 * takes a nonce, has the leaf's key sign for a fresh P-256 key over the nonce and the pinned key (`renewSignedData`),
 * and prints one JSON line: {ok:true, leafSubjectAltName, issuer} or {ok:false, error}.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { renewKeyPossessionData, renewSignedData, signBinding } from '../../../lib/protocol/binding.js';
import { PinnedClient } from '../../../lib/protocol/client.js';
import { MeshApi } from '../../../lib/protocol/services.js';

const { coordinator, chain, key } = JSON.parse(process.argv[2] ?? '{}') as { coordinator: string; chain: string; key: string };
const client = await PinnedClient.connect(coordinator, MeshApi);
try {
  const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const newSpki = new Uint8Array(next.publicKey.export({ type: 'spki', format: 'der' }));
  const nonce = await client.nonce();
  const signature = signBinding(renewSignedData(newSpki, nonce, client.spki), createPrivateKey(key));
  const newKeySignature = signBinding(renewKeyPossessionData(newSpki, nonce, client.spki), next.privateKey);
  const res = await client.call('RenewMeshCert', { certChain: chain, publicKey: newSpki, nonce, signature, newKeySignature });
  const leaf = new X509Certificate(res.certChain);
  process.stdout.write(JSON.stringify({ ok: true, leafSubjectAltName: leaf.subjectAltName, issuer: leaf.issuer }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n');
} finally {
  client.close();
}
