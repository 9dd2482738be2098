/**
 * Operator identities: the short-lived client certificates the Coordinator issues to a holder of a workload-owner key
 * (`IssueOperatorCert`) for `ccmesh port-forward`. Their one URI SAN is `ccmesh-operator://<trust-domain>/<key id>`,
 * a scheme no workload leaf can carry (workload SANs are DNS names, IP addresses and one `spiffe://` URI, and neither
 * a DNS name nor a SPIFFE path may contain a colon), so an operator can never be mistaken for a workload, and the
 * sidecar recognises one from the SAN text alone.
 */
import { createHash } from 'node:crypto';

/** The URI scheme of an operator identity. */
export const OPERATOR_URI_SCHEME = 'ccmesh-operator';

/** Longest operator certificate lifetime the Coordinator issues: one hour. */
export const MAX_OPERATOR_CERT_LIFETIME_MS = 60 * 60 * 1000;

/**
 * `ccmesh-operator://<trustDomain>/<first 16 bytes of SHA-256(owner key SPKI DER), hex>`: which owner key authorised
 * the certificate, so logs and allow-decisions can name it without carrying the key.
 */
export function operatorIdFor(trustDomain: string, ownerSpki: Uint8Array): string {
  const keyId = createHash('sha256').update(ownerSpki).digest('hex').slice(0, 32);
  return `${OPERATOR_URI_SCHEME}://${trustDomain}/${keyId}`;
}

/**
 * True when a certificate's SAN text (Node's `subjectaltname` / `X509Certificate.subjectAltName`) names an operator.
 * SECURITY: deliberately coarse — any occurrence of the scheme anywhere in the text counts, quoted or not, so a SAN
 * list that fails to parse can only make a certificate *more* restricted, never pass as a workload.
 */
export function isOperatorSanText(sanText: string | undefined): boolean {
  return sanText !== undefined && sanText.toLowerCase().includes(`${OPERATOR_URI_SCHEME}:`);
}

/** The TLS server name of a port-forward connection to `port`: `port-<port>.forward.ccmesh.invalid`. */
export function forwardServerName(port: number): string {
  return `port-${port}.forward.ccmesh.invalid`;
}

/** The port a port-forward server name names (1-65535, decimal without leading zeros), or undefined. */
export function parseForwardServerName(name: string): number | undefined {
  const m = /^port-([1-9][0-9]{0,4})\.forward\.ccmesh\.invalid$/.exec(name);
  const port = m ? Number(m[1]) : NaN;
  return port >= 1 && port <= 65535 ? port : undefined;
}
