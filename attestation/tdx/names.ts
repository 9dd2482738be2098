/**
 * Distinguished names read from DER, for matching CRL issuers to certificates exactly (byte for byte) and for
 * recognising Intel's CAs by common name. Node's X509Certificate only offers names as display strings.
 */
import type { X509Certificate } from 'node:crypto';
import { at, children, decodeOid, decodeString, readOne, Tag } from '../../lib/asn1/der.js';

const CN_OID = '2.5.4.3';

/** The DER of the subject Name of `cert`. Throws DerError for a malformed certificate. */
export function subjectDerOf(cert: X509Certificate): Uint8Array {
  const tbs = children(at(children(readOne(new Uint8Array(cert.raw), Tag.SEQUENCE)), 0, 'tbsCertificate'));
  // tbsCertificate: [0] version?, serial, signature, issuer, validity, subject, ...
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  return at(tbs, offset + 4, 'subject').raw;
}

/** The CN of a DER Name, or undefined (a malformed name yields undefined, not an exception). */
export function commonNameOf(nameDer: Uint8Array): string | undefined {
  try {
    for (const rdn of children(readOne(nameDer, Tag.SEQUENCE))) {
      for (const atv of children(rdn)) {
        const [oid, value] = children(atv);
        if (oid && value && decodeOid(oid) === CN_OID) return decodeString(value);
      }
    }
  } catch {
    return undefined; // unreadable name: treated as "no CN"
  }
  return undefined;
}

/** The CN of a certificate's subject, or undefined. */
export function certCommonName(cert: X509Certificate): string | undefined {
  try {
    return commonNameOf(subjectDerOf(cert));
  } catch {
    return undefined; // Node parsed it, our reader did not: no CN to match on
  }
}
