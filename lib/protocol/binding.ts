/**
 * What evidence and signatures bind, byte for byte. The Coordinator and every client (CLI, initializer, sidecar)
 * compute these the same way, so they live in shared code. Each purpose has its own domain label, so a value made
 * for one purpose can never be replayed as another.
 *
 * SECURITY: every binding includes the SHA-256 of the Coordinator's TLS public key (SPKI DER) as the client saw it.
 * A relay that terminates TLS with its own key presents a different SPKI to the client than the Coordinator has,
 * so evidence or signatures the client makes through the relay never match at the Coordinator.
 */
import { constants, createHash, type KeyObject, sign, verify } from 'node:crypto';

/** Domain labels (NUL-terminated when hashed). Never reuse or change one; add a new version instead. */
export const LABELS = Object.freeze({
  // v1 bound no mesh owner; retired.
  coordinatorAttest: 'ccmesh/coordinator-attest/v2',
  meshCert: 'ccmesh/mesh-cert/v1',
  renewMeshCert: 'ccmesh/renew-mesh-cert/v1',
  renewKeyPossession: 'ccmesh/renew-key-possession/v1',
  setManifest: 'ccmesh/set-manifest/v1',
  recover: 'ccmesh/recover/v1',
  shareSeed: 'ccmesh/share-seed/v1',
  shareSeedAnswer: 'ccmesh/share-seed-answer/v1',
  operatorCert: 'ccmesh/operator-cert/v1',
});

/** SHA-256 of DER bytes (a SPKI, a certificate). */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function digest(alg: 'sha256' | 'sha512', label: string, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash(alg).update(label).update(Uint8Array.of(0));
  for (const p of parts) {
    // Length-prefix every part so no two different part lists hash alike.
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    h.update(len).update(p);
  }
  return new Uint8Array(h.digest());
}

/**
 * REPORT_DATA of the Coordinator's own evidence (64 bytes): its TLS key, the client's nonce and the mesh owner it
 * serves (`mesh-owner.ts`; all zero while it serves none), so the evidence itself says whose mesh this is.
 */
export function coordinatorReportData(coordinatorTlsSpki: Uint8Array, clientNonce: Uint8Array, meshOwner: Uint8Array): Uint8Array {
  return digest('sha512', LABELS.coordinatorAttest, [sha256(coordinatorTlsSpki), clientNonce, meshOwner]);
}

/** REPORT_DATA of a pod's evidence for NewMeshCert: its key, the Coordinator's nonce, the Coordinator's TLS key. */
export function meshCertReportData(podSpki: Uint8Array, coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha512', LABELS.meshCert, [sha256(podSpki), coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/** What a leaf key signs to renew: the new key, the Coordinator's nonce and TLS key. */
export function renewSignedData(newSpki: Uint8Array, coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha256', LABELS.renewMeshCert, [sha256(newSpki), coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/**
 * What the NEW key signs in a renewal (proof of possession): itself, the Coordinator's nonce and TLS key. Without it
 * any holder of a valid leaf could have a leaf of its own identity issued for someone else's public key, and the
 * host could hand that leaf to the pod whose key it is.
 */
export function renewKeyPossessionData(newSpki: Uint8Array, coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha256', LABELS.renewKeyPossession, [sha256(newSpki), coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/** What a workload owner signs to update the manifest. */
export function setManifestSignedData(manifest: Uint8Array, policies: readonly Uint8Array[], coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return setManifestSignedDigests(sha256(manifest), policies.map(sha256), coordinatorNonce, coordinatorTlsSpki);
}

/** {@link setManifestSignedData} from the SHA-256 of the manifest and of each policy document (request order). */
export function setManifestSignedDigests(manifestSha256: Uint8Array, policySha256s: readonly Uint8Array[], coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha256', LABELS.setManifest, [manifestSha256, ...policySha256s, coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/**
 * What a workload owner signs to have an operator certificate issued for `operatorSpki`: that key, the Coordinator's
 * single-use nonce and TLS key. The nonce makes the request unreplayable; the TLS key ties it to this Coordinator.
 */
export function operatorCertSignedData(operatorSpki: Uint8Array, coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha256', LABELS.operatorCert, [sha256(operatorSpki), coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/** What a seed-share owner signs to recover a Coordinator. */
export function recoverSignedData(seed: Uint8Array, salt: Uint8Array, coordinatorNonce: Uint8Array, coordinatorTlsSpki: Uint8Array): Uint8Array {
  return digest('sha256', LABELS.recover, [sha256(Buffer.concat([seed, salt])), coordinatorNonce, sha256(coordinatorTlsSpki)]);
}

/**
 * REPORT_DATA of a Coordinator replica's evidence when it asks a peer for the seed (ShareSeed): its ephemeral ECDH
 * key, the serving peer's nonce and the serving peer's TLS key as the requester saw it.
 */
export function shareSeedReportData(requesterEcdhSpki: Uint8Array, servingNonce: Uint8Array, servingTlsSpki: Uint8Array): Uint8Array {
  return digest('sha512', LABELS.shareSeed, [sha256(requesterEcdhSpki), servingNonce, sha256(servingTlsSpki)]);
}

/**
 * REPORT_DATA of the serving peer's evidence in its ShareSeed answer: its own ephemeral ECDH key, the requester's
 * (fresh per request, so the answer cannot be replayed to another request), the sealed answer itself, the mesh owner
 * it serves, the history head it serves (its transition hash, 32 bytes) and its TLS key.
 */
export function shareSeedAnswerReportData(servingEcdhSpki: Uint8Array, requesterEcdhSpki: Uint8Array, sealedSeed: Uint8Array, meshOwner: Uint8Array, servedTransition: Uint8Array, servingTlsSpki: Uint8Array): Uint8Array {
  return digest('sha512', LABELS.shareSeedAnswer, [sha256(servingEcdhSpki), sha256(requesterEcdhSpki), sha256(sealedSeed), meshOwner, servedTransition, sha256(servingTlsSpki)]);
}

/**
 * Signs a binding value (one of the `…SignedData` values above) the one way every signer in the mesh does: ECDSA
 * keys with SHA-256 (DER signature), RSA keys (seed-share owners) with PSS, SHA-256 and a 32-byte salt.
 */
export function signBinding(data: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign('sha256', data, key.asymmetricKeyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key));
}

/**
 * Verifies {@link signBinding}'s signature over `data` with `key`. A key of another kind or a malformed signature
 * is "does not verify", never a thrown error.
 */
export function verifyBinding(data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, key.asymmetricKeyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key, signature);
  } catch {
    return false;
  }
}
