/**
 * One attempt at obtaining the pod's mesh identity: a fresh P-256 key held in memory, evidence binding that key,
 * the Coordinator's nonce and the Coordinator's TLS key (so a relay can't use it), and NewMeshCert over a client
 * pinned to that TLS key.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { EvidenceIssuer } from '../attestation/issuers/evidence.js';
import { toWireEvidence } from '../attestation/issuers/wire-evidence.js';
import { meshCertReportData } from '../lib/protocol/binding.js';
import { PinnedClient } from '../lib/protocol/client.js';
import { formatMeshOwnerPin } from '../lib/protocol/mesh-owner.js';
import type { MeshApiMethods, MeshCertResponse } from '../lib/protocol/messages.js';
import { MeshApi } from '../lib/protocol/services.js';
import { CcmeshError, ErrorCode } from '../lib/errors.js';

/** What an attempt yields. */
export interface Obtained {
  readonly key: KeyObject;
  readonly response: MeshCertResponse;
}

/**
 * Checks that the server behind a pinned client is a genuine Coordinator (its evidence over a fresh nonce, bound to
 * the pinned TLS key); throws to refuse it. Supplied by the CLI, which composes the evidence checker.
 */
export type CoordinatorVerifier = (client: PinnedClient<MeshApiMethods>) => Promise<void>;

/**
 * Connects to the mesh API at `address`, verifies the Coordinator when a verifier is given (before any evidence of
 * ours leaves the pod), attests with `issuer` and asks for a certificate. With `meshOwner`, the answer must name that
 * owner (the verifier checked it in the Coordinator's evidence already; this second check holds even if the
 * Coordinator changed hands between the two calls).
 */
export async function obtainMeshCert(address: string, issuer: EvidenceIssuer, signal?: AbortSignal, verifyCoordinator?: CoordinatorVerifier, meshOwner?: Uint8Array): Promise<Obtained> {
  const client = await PinnedClient.connect(address, MeshApi);
  try {
    await verifyCoordinator?.(client);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const nonce = await client.nonce();
    const ev = await issuer.issue(meshCertReportData(spki, nonce, client.spki), signal);
    const response = await client.call('NewMeshCert', { evidence: toWireEvidence(ev), publicKey: spki, nonce }, 30_000);
    if (response.workloadSecret?.length !== 64 || !response.certChain || !response.rootCa || !response.meshCaBundle) {
      throw new CcmeshError(ErrorCode.COORDINATOR_REFUSED, 'NewMeshCert answered without certificate, CA bundle, root or workload secret');
    }
    if (meshOwner !== undefined && response.meshOwner !== formatMeshOwnerPin(meshOwner)) {
      // SECURITY: nothing of this answer (leaf, CAs, workload secret) is kept or written.
      throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_WRONG_OWNER, `the Coordinator's answer names mesh owner ${JSON.stringify(response.meshOwner ?? '')}, not the pinned ${formatMeshOwnerPin(meshOwner)}`);
    }
    return { key: privateKey, response };
  } finally {
    client.close();
  }
}
