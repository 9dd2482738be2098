/**
 * CA certificates the Coordinator keeps in its store. Their keys derive from the seed, but ECDSA certificates are
 * not reproducible byte for byte, so the certificates themselves are stored: after recovery the root CA is the
 * same certificate, not merely the same key. The store is host-controlled, so a stored certificate is used only
 * if it is, in full, the CA ccmesh would have made: its public key equals the derived one, it is a CA, it is signed
 * as it should be (the root by itself, a mesh CA by the root), with ccmesh's name (for a mesh CA, with its
 * generation) and CA constraints. A certificate for the right key with a bogus signature, another name or no CA flag —
 * which pods holding it as their trust anchor would otherwise take as it is — is refused.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import { bytesEqual } from '../../lib/bytes.js';
import { MESH_CA_GENERATION_CHARS, ROOT_CA_COMMON_NAME } from '../pki/ca.js';
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

/** What a stored CA must be, besides a certificate for the derived key. */
export type CaExpectation =
  | { readonly kind: 'root' }
  | { readonly kind: 'mesh'; readonly root: X509Certificate; readonly generation: string };

/** Loads a stored CA certificate for `key`, or undefined; throws if the stored one is not exactly the expected CA. */
export async function loadCa(store: Store, storeKey: string, key: KeyObject, expect: CaExpectation): Promise<CaMaterial | undefined> {
  const entry = await store.get(storeKey);
  if (!entry) return undefined;
  const certPem = Buffer.from(entry.value).toString('utf8');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${storeKey} holds no readable certificate (${err instanceof Error ? err.message : String(err)}); the store was tampered with`, { cause: err });
  }
  // SECURITY: the host could replace the stored certificate; only the CA we would have made is acceptable.
  if (!bytesEqual(new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' })), spkiOf(key))) {
    throw new Error(`${storeKey} holds a certificate for another key; the store was tampered with or belongs to another seed`);
  }
  const problem = caProblem(cert, expect);
  if (problem !== undefined) throw new Error(`${storeKey} holds a certificate for the right key that is not the ${expect.kind} CA ccmesh makes (${problem}); the store was tampered with`);
  return { cert, certPem, key };
}

/** Why `cert` is not the expected CA, or undefined. */
export function caProblem(cert: X509Certificate, expect: CaExpectation): string | undefined {
  if (!cert.ca) return 'not a CA';
  const issuer = expect.kind === 'root' ? cert : expect.root;
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return expect.kind === 'root' ? 'not self-signed' : 'not issued and signed by the root CA';
  const cn = expect.kind === 'root' ? ROOT_CA_COMMON_NAME : `ccmesh mesh CA ${expect.generation.slice(0, MESH_CA_GENERATION_CHARS)}`;
  // The organisation is the trust domain the CA was made under; a manifest update may have changed it since.
  if (!/^O=[^\n]+$/.test(cert.subject.slice(`CN=${cn}\n`.length)) || !cert.subject.startsWith(`CN=${cn}\n`)) {
    return `subject ${JSON.stringify(cert.subject)}, expected CN=${cn} and the trust domain`;
  }
  const parsed = new x509.X509Certificate(cert.raw);
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca || (expect.kind === 'mesh' && bc.pathLength !== 0)) return expect.kind === 'mesh' ? 'basic constraints are not CA with path length 0' : 'basic constraints are not CA';
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) return 'key usage lacks keyCertSign';
  return undefined;
}

/** Attempts of {@link loadOrCreateCa} when the key changes under it (another writer stores, then it vanishes). */
const CA_STORE_ATTEMPTS = 3;

/**
 * Loads the CA at `storeKey` or creates it with `create` and stores it (first writer wins). The CA returned is always
 * the one the store holds: a certificate whose compare-and-swap lost, to a writer whose entry is gone again by the time
 * it is read, is never handed out (pods would anchor on a CA no replica serves); the create is retried instead.
 */
export async function loadOrCreateCa(store: Store, storeKey: string, key: KeyObject, expect: CaExpectation, create: () => Promise<{ certPem: string }>): Promise<CaMaterial> {
  for (let attempt = 1; attempt <= CA_STORE_ATTEMPTS; attempt++) {
    const existing = await loadCa(store, storeKey, key, expect);
    if (existing) return existing;
    const { certPem } = await create();
    const cas = await store.compareAndSwap(storeKey, 0, new Uint8Array(Buffer.from(certPem)));
    if (cas.ok) return { cert: new X509Certificate(certPem), certPem, key };
  }
  throw new Error(`${storeKey}: the stored CA changed under ${CA_STORE_ATTEMPTS} attempts to create it (another writer stored one, then it vanished); try again`);
}
