/**
 * X.509 CRLs (RFC 5280 §5): parsing from untrusted DER and checking a certificate against one. AMD's CRLs are
 * RSASSA-PSS-signed, Intel's ECDSA-signed; both go through {@link verifySignature}.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { at, bitStringBytes, children, decodeTime, type DerNode, integerBytes, readOne, Tag } from '../../lib/asn1/der.js';
import { toHex } from '../../lib/bytes.js';
import { readPemBlocks, looksLikePem } from './pem.js';
import { decodeSignatureAlgorithm, type SignatureAlgorithm, verifySignature } from './signature.js';

/** A parsed CRL. Serial numbers are lowercase hex without leading zeros. */
export interface Crl {
  readonly issuerDer: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revokedSerials: ReadonlySet<string>;
  readonly tbs: Uint8Array;
  readonly algorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly der: Uint8Array;
}

/** Upper bound on revoked entries; a larger CRL is refused rather than held in memory. */
export const MAX_CRL_ENTRIES = 200_000;

/** Parses a CRL from DER or PEM (`X509 CRL`). Throws DerError / Error on malformed input. */
export function parseCrl(bytes: Uint8Array): Crl {
  let der = bytes;
  if (looksLikePem(bytes)) {
    const block = readPemBlocks(Buffer.from(bytes).toString('latin1')).find((b) => b.label === 'X509 CRL');
    if (!block) throw new Error('PEM text has no X509 CRL block');
    der = block.der;
  }
  const top = children(readOne(der, Tag.SEQUENCE));
  const tbsNode = at(top, 0, 'tbsCertList');
  const algorithm = decodeSignatureAlgorithm(at(top, 1, 'signatureAlgorithm'));
  const signature = bitStringBytes(at(top, 2, 'signatureValue'));
  const tbs = children(tbsNode);
  let i = 0;
  if (tbs[0]?.tag === Tag.INTEGER) i++; // version
  i++; // signature AlgorithmIdentifier (must equal the outer one; we verify with the outer one)
  const issuer = at(tbs, i++, 'issuer');
  const thisUpdate = decodeTime(at(tbs, i++, 'thisUpdate'));
  let nextUpdate: Date | undefined;
  const maybeNext = tbs[i];
  if (maybeNext && (maybeNext.tag === Tag.UTC_TIME || maybeNext.tag === Tag.GENERALIZED_TIME)) {
    nextUpdate = decodeTime(maybeNext);
    i++;
  }
  const revokedSerials = new Set<string>();
  const maybeRevoked: DerNode | undefined = tbs[i];
  if (maybeRevoked && maybeRevoked.tag === Tag.SEQUENCE) {
    const entries = children(maybeRevoked);
    if (entries.length > MAX_CRL_ENTRIES) throw new Error(`CRL has more than ${MAX_CRL_ENTRIES} entries`);
    for (const e of entries) revokedSerials.add(normaliseSerial(toHex(integerBytes(at(children(e), 0, 'userCertificate')))));
  }
  return { issuerDer: issuer.raw, thisUpdate, nextUpdate, revokedSerials, tbs: tbsNode.raw, algorithm, signature, der };
}

/** Lowercase hex serial without leading zeros ("0" for zero). */
export function normaliseSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/** True when the CRL's signature verifies with `issuerKey`. */
export function crlSignedBy(crl: Crl, issuerKey: KeyObject): boolean {
  return verifySignature(crl.algorithm, crl.tbs, crl.signature, issuerKey);
}

/** True when the CRL names `cert`'s serial number. */
export function isRevoked(crl: Crl, cert: X509Certificate): boolean {
  return crl.revokedSerials.has(normaliseSerial(cert.serialNumber));
}
