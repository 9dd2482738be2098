/**
 * Certificate-path checks shared by SNP (VEK → ASK/ASVK → ARK) and TDX (PCK → platform/processor CA → Intel root).
 * The trust anchor is always a pinned certificate compared byte for byte, never whatever root the evidence carries.
 * Every failed check becomes a reason string; nothing here throws for bad input.
 */
import type { X509Certificate } from 'node:crypto';
import { at as derAt, children, readOne, Tag } from '../../lib/asn1/der.js';
import { bytesEqual } from '../../lib/bytes.js';
import { type Crl, crlSignedBy, isRevoked } from './crl.js';

/** Input to {@link checkChain}: leaf first, then intermediates, ending at a pinned root. */
export interface ChainInput {
  /** Certificates from the leaf up to (and including) the root, each issued by the next. */
  readonly path: readonly { readonly cert: X509Certificate; readonly role: string }[];
  /** The pinned anchors; the last element of `path` must equal one of them byte for byte. */
  readonly anchors: readonly X509Certificate[];
  /** The instant at which every certificate must be valid. */
  readonly at: Date;
  /** CRLs to apply; each is used for the certificates its issuer signed. */
  readonly crls?: readonly Crl[];
}

/** Checks names, signatures, validity, CA flags, the pinned anchor and CRLs. Returns reasons (empty = valid). */
export function checkChain(input: ChainInput): string[] {
  const reasons: string[] = [];
  const { path, at } = input;
  const root = path[path.length - 1];
  if (!root) return ['certificate chain is empty'];
  if (!input.anchors.some((a) => bytesEqual(new Uint8Array(a.raw), new Uint8Array(root.cert.raw)))) {
    reasons.push(`${root.role} certificate (${root.cert.subject.replace(/\n/g, ',')}) is not a pinned trust anchor`);
  }
  for (let i = 0; i < path.length; i++) {
    const { cert, role } = path[i]!;
    const issuer = path[i + 1] ?? path[i]!; // the root is self-signed
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
      // SECURITY: an unreadable date would make both comparisons false, i.e. "valid"; fail closed instead.
      reasons.push(`${role} certificate has an unreadable validity period (${JSON.stringify(cert.validFrom)} to ${JSON.stringify(cert.validTo)})`);
    } else if (at < notBefore) reasons.push(`${role} certificate is not valid before ${notBefore.toISOString()} (checked at ${at.toISOString()})`);
    else if (at > notAfter) reasons.push(`${role} certificate expired at ${notAfter.toISOString()} (checked at ${at.toISOString()})`);
    if (cert.issuer !== issuer.cert.subject) {
      reasons.push(`${role} certificate issuer does not name the ${issuer.role} certificate's subject`);
      continue;
    }
    let signed = false;
    try {
      signed = cert.verify(issuer.cert.publicKey);
    } catch {
      signed = false;
    }
    if (!signed) reasons.push(`${role} certificate signature does not verify with the ${issuer.role} key`);
    if (i > 0 && !cert.ca) reasons.push(`${role} certificate is not a CA but issued the ${path[i - 1]!.role} certificate`);
  }
  for (const crl of input.crls ?? []) reasons.push(...applyCrl(crl, input));
  return reasons;
}

function applyCrl(crl: Crl, input: ChainInput): string[] {
  const reasons: string[] = [];
  // A CRL is applied to the certificates issued by the certificate whose subject matches the CRL issuer.
  for (let i = 0; i < input.path.length; i++) {
    const issuer = input.path[i + 1] ?? input.path[i]!;
    const subject = input.path[i]!;
    // The self-signed root is not judged by its own CRL; without this skip every root-CRL reason appeared twice.
    if (subject === issuer && input.path.length > 1) continue;
    if (!bytesEqual(crl.issuerDer, subjectDer(issuer.cert))) continue;
    if (!crlSignedBy(crl, issuer.cert.publicKey)) {
      reasons.push(`CRL issued by the ${issuer.role} does not verify with its key`);
      continue;
    }
    if (input.at < crl.thisUpdate) reasons.push(`CRL of the ${issuer.role} is not valid before ${crl.thisUpdate.toISOString()}`);
    if (crl.nextUpdate && input.at > crl.nextUpdate) {
      reasons.push(`CRL of the ${issuer.role} is stale: its nextUpdate was ${crl.nextUpdate.toISOString()} (checked at ${input.at.toISOString()})`);
    }
    if (isRevoked(crl, subject.cert) && subject !== issuer) {
      reasons.push(`${subject.role} certificate (serial ${subject.cert.serialNumber}) is revoked by the ${issuer.role} CRL`);
    }
  }
  return reasons;
}

/** The DER of the subject Name of `cert` (for matching CRL issuers exactly). */
function subjectDer(cert: X509Certificate): Uint8Array {
  const tbs = children(derAt(children(readOne(new Uint8Array(cert.raw), Tag.SEQUENCE)), 0, 'tbsCertificate'));
  // tbsCertificate: [0] version?, serial, signature, issuer, validity, subject, ...
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  return derAt(tbs, offset + 4, 'subject').raw;
}
