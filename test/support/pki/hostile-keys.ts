/**
 * Public keys and certificates that Node accepts but must never inspect: the EC point at infinity, whose
 * `asymmetricKeyDetails` aborts the process on Node 20 (see lib/pki/key-details.ts). For regression tests and the
 * fuzz corpus.
 */
import { children, readOne, Tag } from '../../../lib/asn1/der.js';
import { encodeSequence } from '../../../lib/asn1/der-writer.js';

/** AlgorithmIdentifier of id-ecPublicKey on P-256 and on P-384. */
const EC_ALG = {
  'P-256': '301306072a8648ce3d020106082a8648ce3d030107',
  'P-384': '301006072a8648ce3d020106052b81040022',
} as const;

/** SPKI DER of the point at infinity on `curve` (a BIT STRING holding the one octet 0x00). */
export function infinitySpki(curve: keyof typeof EC_ALG): Buffer {
  return encodeSequence(Buffer.from(EC_ALG[curve], 'hex'), Buffer.from('03020000', 'hex'));
}

/** `certDer` with its subjectPublicKeyInfo replaced by `spki` (the signature no longer verifies; parsing still works). */
export function withSpki(certDer: Uint8Array, spki: Uint8Array): Buffer {
  const [tbs, alg, sig] = children(readOne(certDer, Tag.SEQUENCE));
  const fields = children(tbs!);
  // [0] version is present in every v3 certificate: subjectPublicKeyInfo is the seventh field.
  const at = fields[0]!.tag === 0xa0 ? 6 : 5;
  const replaced = fields.map((f, i) => (i === at ? spki : f.raw));
  return encodeSequence(encodeSequence(...replaced), alg!.raw, sig!.raw);
}
