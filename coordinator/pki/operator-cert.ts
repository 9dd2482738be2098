/**
 * Operator certificates (`IssueOperatorCert`, contract/operator-identity.ts): a short-lived TLS client certificate
 * under the current mesh CA for a caller who proved possession of a workload-owner key. Same key type, signature and
 * encoding as a mesh leaf (leaf-encoder.ts), but its only SAN is the operator URI, it is a TLS client only, and it
 * carries no policy hash: no workload allow-list can match it and RenewMeshCert can never renew it.
 */
import { sign, type KeyObject } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { MAX_OPERATOR_CERT_LIFETIME_MS, OPERATOR_URI_SCHEME } from '../../contract/operator-identity.js';
import { prepareDerIssuer } from './der-issuer.js';
import { issuedFromDer, p256Spki, randomSerialBytes, validityWithin, type IssuedCertificate, type SigningCa } from './issuance.js';
import { encodeOperatorTbs, encodeSignedCertificate } from './leaf-encoder.js';

/** Inputs of {@link issueOperatorCert}. */
export interface OperatorCertOptions {
  /** The operator's P-256 public key (made by `ccmesh port-forward`, never leaves the operator's machine). */
  readonly publicKey: KeyObject | Uint8Array;
  /** `ccmesh-operator://…` (operatorIdFor). */
  readonly operatorId: string;
  /** At most {@link MAX_OPERATOR_CERT_LIFETIME_MS}. */
  readonly lifetimeMs: number;
  readonly meshCa: SigningCa;
  readonly clock: Clock;
}

/** Issues an operator certificate under `meshCa`. Throws PKI_INPUT_INVALID / PKI_CA_EXPIRED. */
export function issueOperatorCert(opts: OperatorCertOptions): IssuedCertificate {
  if (!opts.operatorId.startsWith(`${OPERATOR_URI_SCHEME}://`)) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `operator id ${JSON.stringify(opts.operatorId.slice(0, 100))} does not start with ${OPERATOR_URI_SCHEME}://`);
  // SECURITY: the lifetime bound is enforced here, where the certificate is made, whatever a caller configured.
  if (opts.lifetimeMs > MAX_OPERATOR_CERT_LIFETIME_MS) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `operator certificate lifetime ${opts.lifetimeMs} ms exceeds the maximum of ${MAX_OPERATOR_CERT_LIFETIME_MS} ms (1 h)`);
  const spki = p256Spki(opts.publicKey, 'operator public key');
  const validity = validityWithin(opts.clock, opts.lifetimeMs, opts.meshCa.cert, 'issuing an operator certificate');
  const issuer = prepareDerIssuer(opts.meshCa, 'issuing an operator certificate: mesh CA');
  const tbs = encodeOperatorTbs({ serial: randomSerialBytes(), issuerName: issuer.name, ...validity, spki, operatorId: opts.operatorId, authorityKeyId: issuer.keyId });
  const signature = sign('sha256', tbs, { key: issuer.key, dsaEncoding: 'der' });
  return issuedFromDer(new Uint8Array(encodeSignedCertificate(tbs, signature)));
}
