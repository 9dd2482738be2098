/**
 * Verifying an X.509-style signature (TBS bytes + AlgorithmIdentifier + BIT STRING) with Node's crypto. Used for
 * CRLs, which Node can't verify itself; certificates go through `X509Certificate.verify`, which handles
 * RSASSA-PSS, RSA PKCS#1 v1.5 and ECDSA.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { at, children, decodeOid, decodeSmallUint, type DerNode, DerError, Tag } from '../../lib/asn1/der.js';

/** A decoded signature algorithm. */
export interface SignatureAlgorithm {
  readonly kind: 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss';
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly saltLength?: number;
}

const HASH_OIDS: Record<string, SignatureAlgorithm['hash']> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const SIMPLE: Record<string, SignatureAlgorithm> = {
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', hash: 'sha512' },
  '1.2.840.113549.1.1.11': { kind: 'rsa-pkcs1', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa-pkcs1', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa-pkcs1', hash: 'sha512' },
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const MGF1 = '1.2.840.113549.1.1.8';

/** Decodes an AlgorithmIdentifier; throws DerError for anything unsupported. */
export function decodeSignatureAlgorithm(node: DerNode): SignatureAlgorithm {
  const parts = children(node);
  const oid = decodeOid(at(parts, 0, 'algorithm OID'));
  const simple = SIMPLE[oid];
  if (simple) return simple;
  if (oid !== RSASSA_PSS) throw new DerError(`unsupported signature algorithm ${oid}`);
  // RSASSA-PSS-params: [0] hashAlgorithm, [1] maskGenAlgorithm, [2] saltLength, [3] trailerField.
  let hash: SignatureAlgorithm['hash'] | undefined;
  let mgfHash: SignatureAlgorithm['hash'] | undefined;
  let saltLength = 20;
  const params = parts[1];
  if (params && params.tag === Tag.SEQUENCE) {
    for (const p of children(params)) {
      const inner = children(p)[0];
      if (!inner) continue;
      if (p.tag === 0xa0) hash = HASH_OIDS[decodeOid(at(children(inner), 0, 'PSS hash OID'))];
      if (p.tag === 0xa1) {
        const mgf = children(inner);
        if (decodeOid(at(mgf, 0, 'MGF OID')) !== MGF1) throw new DerError('RSASSA-PSS with an MGF other than MGF1');
        mgfHash = HASH_OIDS[decodeOid(at(children(at(mgf, 1, 'MGF1 hash')), 0, 'MGF1 hash OID'))];
      }
      if (p.tag === 0xa2) saltLength = decodeSmallUint(inner);
    }
  }
  if (!hash || !mgfHash) throw new DerError('RSASSA-PSS with default (SHA-1) or unsupported hash parameters');
  if (hash !== mgfHash) throw new DerError('RSASSA-PSS with differing message and MGF1 hashes');
  return { kind: 'rsa-pss', hash, saltLength };
}

/** Verifies `signature` over `data` with `key` under `alg`. Returns false (never throws) on a bad signature. */
export function verifySignature(alg: SignatureAlgorithm, data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    if (alg.kind === 'rsa-pss') {
      return verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength ?? 20 }, signature);
    }
    if (alg.kind === 'rsa-pkcs1') return verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return verify(alg.hash, data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    // A key of the wrong type or a garbled signature is "does not verify", not a crash.
    return false;
  }
}
