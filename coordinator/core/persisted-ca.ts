/**
 * CA certificates the Coordinator keeps in its store. Their keys derive from the seed, but ECDSA certificates are
 * not reproducible byte for byte, so the certificates themselves are stored: after recovery the root CA is the
 * same certificate, not merely the same key. A stored certificate is used only if its public key equals the
 * derived one — the store is host-controlled and may not swap a CA.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { bytesEqual } from '../../lib/bytes.js';
import type { Store } from '../store/store.js';

/** A CA certificate with its private key and PEM text. */
export interface CaMaterial {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly key: KeyObject;
}

const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(createPublicKey(k).export({ type: 'spki', format: 'der' }));

/** Store key of the root CA certificate. */
export const ROOT_CA_KEY = 'state/root-ca';
/** Store key of the mesh CA certificate of one generation (transition hash). */
export const meshCaKey = (generation: string): string => `state/mesh-ca/${generation}`;

/** Loads a stored CA certificate for `key`, or undefined; throws if the stored one is not for this key. */
export async function loadCa(store: Store, storeKey: string, key: KeyObject): Promise<CaMaterial | undefined> {
  const entry = await store.get(storeKey);
  if (!entry) return undefined;
  const certPem = Buffer.from(entry.value).toString('utf8');
  const cert = new X509Certificate(certPem);
  // SECURITY: the host could replace the stored certificate; only one for our derived key is acceptable.
  if (!bytesEqual(new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' })), spkiOf(key))) {
    throw new Error(`${storeKey} holds a certificate for another key; the store was tampered with or belongs to another seed`);
  }
  return { cert, certPem, key };
}

/** Loads the CA at `storeKey` or creates it with `create` and stores it (first writer wins). */
export async function loadOrCreateCa(store: Store, storeKey: string, key: KeyObject, create: () => Promise<{ certPem: string }>): Promise<CaMaterial> {
  const existing = await loadCa(store, storeKey, key);
  if (existing) return existing;
  const { certPem } = await create();
  const cas = await store.compareAndSwap(storeKey, 0, new Uint8Array(Buffer.from(certPem)));
  if (!cas.ok) {
    const raced = await loadCa(store, storeKey, key);
    if (raced) return raced;
  }
  return { cert: new X509Certificate(certPem), certPem, key };
}
