/**
 * Who an egress connection accepts as its server: any leaf that chains to the mesh CA bundle (checked by OpenSSL
 * against the generation's `ca`), and — when `--egress-san NAME=SAN` is set — only one carrying that SAN.
 */
import type { PeerCertificate } from 'node:tls';
import { SAN_MISMATCH_CODE } from '../data/handshake-failure.js';
import { buildSanAllowList, sansAllowed } from '../inbound/identity.js';

/** A `checkServerIdentity` for tls.connect, built once per egress listener. */
export type ServerIdentityCheck = (host: string, cert: PeerCertificate) => Error | undefined;

/** Builds the check for one egress entry. */
export function buildServerIdentityCheck(expectSan: string | undefined): ServerIdentityCheck {
  if (expectSan === undefined) {
    // SECURITY: the remote's DNS name is not a mesh identity (leaf SANs come from the manifest), so the hostname is
    // not compared; the chain to the mesh CA bundle is the authentication. Use --egress-san to pin an identity.
    return () => undefined;
  }
  const allow = buildSanAllowList([expectSan])!;
  return (_host, cert) => {
    if (cert.subjectaltname !== undefined && sansAllowed(cert.subjectaltname, allow)) return undefined;
    const err = new Error(`the server's certificate does not carry the expected SAN ${expectSan}`) as Error & { code: string };
    err.code = SAN_MISMATCH_CODE;
    return err;
  };
}
