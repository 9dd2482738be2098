/**
 * Trust in Intel's signed JSON collateral: the "Intel SGX TCB Signing" certificate must chain to a pinned anchor,
 * and each document's signature must verify over its exact signed bytes and be fresh at the verification time.
 *
 * Decision on the signer's validity: the TCB signing certificate is checked like any chain certificate — valid at
 * the verification time `at` (with the root CRL when supplied) — not at the document's issueDate. Intel re-issues
 * the certificate with the same key and serves the current one with every document, so real collateral passes;
 * an expired signer (as in testdata: expired 2025-05-21, while a 2026 TCB info verifies with the same key) is
 * reported as its own reason, separate from the document signature, and the document is still evaluated so the
 * operator sees both the status and why it can't be trusted.
 */
import { verify, type X509Certificate } from 'node:crypto';
import { describeError } from '../../lib/errors.js';
import { isEcKeyOn } from '../../lib/pki/key-details.js';
import type { Crl } from '../x509/crl.js';
import { checkCertPath, type PckChainCache } from './pck-chain.js';
import type { SignedCollateral } from './tcb-info.js';

/** Reasons the TCB signing certificate can't be trusted at `at` (empty = trusted). */
export function checkTcbSigner(cert: X509Certificate, anchors: readonly X509Certificate[], at: Date, rootCrl: Crl | undefined, cache: PckChainCache): string[] {
  const root = anchors.find((a) => a.subject === cert.issuer);
  if (!root) return [`TCB signing certificate issuer (${cert.issuer.replace(/\n/g, ',')}) is not a pinned trust anchor`];
  let path;
  try {
    path = cache.signerPath(cert, 'Intel SGX TCB Signing', root, 'Intel SGX Root CA');
  } catch (err) {
    return [`TCB signing certificate unreadable: ${describeError(err)}`];
  }
  const reasons = checkCertPath(path, { anchors, at, crls: rootCrl ? [rootCrl] : [] }, cache);
  if (!isP256(cert)) reasons.push('TCB signing certificate key is not an ECDSA P-256 key');
  return reasons;
}

/** True when the certificate's key is EC P-256. */
export function isP256(cert: X509Certificate): boolean {
  try {
    // Node decodes the key lazily: a certificate can parse while its key bytes don't, and then the getter throws.
    // SECURITY: isEcKeyOn reads the SPKI itself; asymmetricKeyDetails aborts the process on a malformed EC point.
    return isEcKeyOn(cert.publicKey, 'prime256v1');
  } catch {
    return false;
  }
}

/** Whether a document's r‖s signature verifies over its exact signed bytes with the signer's key. */
export function documentSignatureValid(doc: SignedCollateral<unknown>, signer: X509Certificate): boolean {
  // SECURITY: the signer comes with the collateral (the host can serve it). OpenSSL's P1363 verify crashes the
  // process (SIGSEGV) with a point-at-infinity key, so the key is read by ccmesh first.
  if (!isP256(signer)) return false;
  try {
    return verify('sha256', doc.signedBytes, { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, doc.signature);
  } catch {
    return false; // wrong key type or malformed signature: "does not verify"
  }
}

/** Reasons a document is not current at `at`: before its issueDate or past its nextUpdate. */
export function freshnessReasons(what: string, issueDate: Date, nextUpdate: Date, at: Date): string[] {
  const reasons: string[] = [];
  if (at < issueDate) reasons.push(`${what} is not valid before its issueDate ${issueDate.toISOString()} (checked at ${at.toISOString()})`);
  if (at > nextUpdate) reasons.push(`${what} is stale: its nextUpdate was ${nextUpdate.toISOString()} (checked at ${at.toISOString()})`);
  return reasons;
}
