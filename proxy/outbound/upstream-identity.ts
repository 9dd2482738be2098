/**
 * Who an outbound connection accepts as its server: a leaf that chains to the mesh CA bundle (checked by OpenSSL
 * against the generation's `ca`) and that carries the expected identity — a DNS name (a `*.` wildcard SAN on the leaf
 * covers exactly one leftmost label, RFC 6125), a SPIFFE URI or an IP address, each compared only with SANs of its
 * own kind. `any` (an egress entry's explicit `*`, and the transparent outbound listener) skips the SAN comparison.
 */
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import type { EgressIdentity } from '../../lib/mesh-config/egress.js';
import { SAN_MISMATCH_CODE } from '../transport/handshake-failure.js';
import { parseSubjectAltNames } from '../transport/subject-alt-names.js';
import { canonicalIpv6 } from '../inbound/identity.js';
import { isOperatorSanText } from '../../contract/operator-identity.js';

/** A `checkServerIdentity` for tls.connect, built once per egress listener. */
export type ServerIdentityCheck = (host: string, cert: PeerCertificate) => Error | undefined;

/** Builds the check for one identity. */
export function buildServerIdentityCheck(identity: EgressIdentity): ServerIdentityCheck {
  const check = buildWorkloadCheck(identity);
  // SECURITY: an operator certificate is never a workload identity, so never a server, even where "any" would pass
  // (it is issued for TLS clients only, which OpenSSL enforces too; this does not rely on that).
  return (host, cert) => (isOperatorSanText(cert.subjectaltname) ? mismatch('the server presented an operator certificate, which is never a workload identity') : check(host, cert));
}

function mismatch(message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = SAN_MISMATCH_CODE;
  return err;
}

function buildWorkloadCheck(identity: EgressIdentity): ServerIdentityCheck {
  if (identity.kind === 'any') {
    // SECURITY: "any mesh identity" — only asked for explicitly (`*`, or the transparent outbound listener, whose IP
    // destinations name no workload). The chain to the mesh CA bundle is then the whole authentication: any meshed
    // workload the host routes the connection to is accepted as the server.
    return () => undefined;
  }
  const kind = identity.kind === 'dns' ? 'DNS' : identity.kind === 'uri' ? 'URI' : 'IP Address';
  const want = identity.kind === 'ip' ? canonicalIp(identity.value) : identity.value;
  const matches = identity.kind === 'dns' ? (san: string) => dnsMatches(want, san.toLowerCase()) : identity.kind === 'ip' ? (san: string) => canonicalIp(san) === want : (san: string) => san === want;
  return (_host, cert) => {
    for (const [k, v] of parseSubjectAltNames(cert.subjectaltname ?? '')) if (k === kind && matches(v)) return undefined;
    return mismatch(`the server's certificate does not carry the expected ${kind} SAN ${identity.value}`);
  };
}

function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? canonicalIpv6(ip) : ip;
}

/** `want` is a plain DNS name; `san` a leaf's DNS SAN, possibly `*.rest` (matches one label in front of `rest`). */
function dnsMatches(want: string, san: string): boolean {
  if (!san.startsWith('*.')) return san === want;
  const dot = want.indexOf('.');
  return dot > 0 && want.slice(dot) === san.slice(1);
}
