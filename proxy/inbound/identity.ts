/**
 * The identity check after an inbound handshake: did the client present a certificate, does it chain to the
 * current mesh CA bundle, and — on ports with `mtls:allow=` — does it carry an allowed SAN. Returns a refusal
 * reason from the closed set of metric labels, or undefined when admitted.
 */
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isOperatorSanText } from '../../contract/operator-identity.js';
import { parseSubjectAltNames } from '../transport/subject-alt-names.js';
import type { HandshakeFailure } from '../metrics.js';

/**
 * A prebuilt SAN allow-list (built once per listener from `mtls:allow=`). Each entry is compared only with SANs of
 * its own kind: an IP literal with `IP Address` SANs, a `scheme://` entry with `URI` SANs, anything else with `DNS`
 * SANs (`*.suffix` entries match exactly one label in front of the suffix).
 */
export interface SanAllowList {
  readonly dns: ReadonlySet<string>;
  readonly uri: ReadonlySet<string>;
  /** Canonical IPv4 / IPv6 text. */
  readonly ip: ReadonlySet<string>;
  /** Suffixes of `*.` entries, with the leading dot: `*.ns.svc` → `.ns.svc`. */
  readonly wildcardSuffixes: readonly string[];
}

/** Builds an allow-list; empty input means "any mesh identity" (undefined). */
export function buildSanAllowList(allow: readonly string[]): SanAllowList | undefined {
  if (allow.length === 0) return undefined;
  const dns = new Set<string>();
  const uri = new Set<string>();
  const ip = new Set<string>();
  const wildcardSuffixes: string[] = [];
  for (const a of allow) {
    const family = isIP(a);
    if (family === 6) ip.add(canonicalIpv6(a));
    else if (family === 4) ip.add(a);
    else if (a.includes('://')) uri.add(a);
    else if (a.startsWith('*.')) wildcardSuffixes.push(a.slice(1).toLowerCase());
    else dns.add(a.toLowerCase());
  }
  return { dns, uri, ip, wildcardSuffixes };
}

/** What a handshaken socket is checked against: the trust in force now. */
export interface CurrentTrust {
  /** The mesh CA bundle of the current credential generation. */
  readonly bundle: readonly X509Certificate[];
  readonly nowMs: number;
  /**
   * True when OpenSSL's verdict alone does not prove the chain against {@link bundle}: the session was resumed (its
   * chain was verified when it was first established, maybe under another bundle), or the credential generation
   * changed while the handshake ran. The leaf is then verified here against the current bundle.
   */
  readonly recheck: boolean;
}

/** The part of a server-side TLS socket the gate reads; a `TLSSocket` is one. */
export type HandshakenSocket = Pick<TLSSocket, 'authorized' | 'authorizationError' | 'getPeerX509Certificate'>;

/**
 * Checks a handshaken server-side socket. SECURITY: the TLS layer runs with `rejectUnauthorized: false` only so
 * that refusals can be classified and counted here; this function is the gate, and the app connection is opened
 * only when it returns undefined.
 */
export function checkClientIdentity(socket: HandshakenSocket, allow: SanAllowList | undefined, trust: CurrentTrust, operators = false): HandshakeFailure | undefined {
  // SECURITY: `authorized` alone is not proof of a client certificate: Node reports a resumed TLS 1.3 session as
  // authorized even when none was ever presented (a session from a server-auth-only listener, say). A peer
  // certificate is required in every case.
  const peer = socket.getPeerX509Certificate();
  if (!socket.authorized) {
    if (peer === undefined) return 'no-client-cert';
    const err = String(socket.authorizationError ?? '');
    return err === 'CERT_HAS_EXPIRED' || err === 'CERT_NOT_YET_VALID' ? 'cert-expired' : 'untrusted-cert';
  }
  if (peer === undefined) return 'no-client-cert';
  if (trust.recheck) {
    const refusal = verifyLeaf(peer, trust.bundle, trust.nowMs);
    if (refusal !== undefined) return refusal;
  }
  return identityRefusal(peer.subjectAltName, allow, operators);
}

/**
 * The port's identity rule against a verified peer's SAN text: an operator certificate (contract/operator-identity.ts)
 * passes only where `operators` is set and is never judged by the allow-list; any other identity must be on the
 * allow-list when there is one.
 */
export function identityRefusal(sanText: string | undefined, allow: SanAllowList | undefined, operators: boolean): HandshakeFailure | undefined {
  // SECURITY: an operator is never a workload identity: without the port's explicit `mtls+operator` it is refused
  // even where "any mesh identity" would pass, and with it the workload allow-list does not apply to it.
  if (isOperatorSanText(sanText)) return operators ? undefined : 'operator-not-allowed';
  if (!allow) return undefined;
  return sanText !== undefined && sansAllowed(sanText, allow) ? undefined : 'san-not-allowed';
}

/**
 * Verifies a mesh leaf against `bundle` at `nowMs`: valid now, issued and signed by a bundle CA that is valid now.
 * Mesh leaves are issued directly by a mesh CA (the bundle ends every chain), so no intermediate is looked for.
 */
export function verifyLeaf(leaf: X509Certificate, bundle: readonly X509Certificate[], nowMs: number): HandshakeFailure | undefined {
  const validNow = (c: X509Certificate): boolean => nowMs >= Date.parse(c.validFrom) && nowMs < Date.parse(c.validTo);
  if (!validNow(leaf)) return 'cert-expired';
  for (const ca of bundle) {
    if (validNow(ca) && leaf.checkIssued(ca) && leaf.verify(ca.publicKey)) return undefined;
  }
  return 'untrusted-cert';
}

/**
 * True when one of the SANs in Node's SAN text (`DNS:a, URI:spiffe://…, IP Address:1.2.3.4`) is in `allow`, compared
 * kind with kind. The text is read by {@link parseSubjectAltNames}, which decodes Node's quoted values, so a value
 * holding `, DNS:x` stays one value and can't be smuggled in as a separate name.
 */
export function sansAllowed(sanText: string, allow: SanAllowList): boolean {
  for (const [kind, raw] of parseSubjectAltNames(sanText)) {
    if (kind === 'DNS') {
      const value = raw.toLowerCase();
      // A wildcard on the leaf is not a name: `*.ns.svc` on a certificate never satisfies an entry.
      if (value.startsWith('*.')) continue;
      if (allow.dns.has(value)) return true;
      const dot = value.indexOf('.');
      if (dot > 0 && allow.wildcardSuffixes.includes(value.slice(dot))) return true;
    } else if (kind === 'URI') {
      if (allow.uri.has(raw)) return true;
    } else if (kind === 'IP Address') {
      if (allow.ip.has(isIP(raw) === 6 ? canonicalIpv6(raw) : raw)) return true;
    }
  }
  return false;
}

/** Eight lowercase hex groups without leading zeros, so `::1` and `0:0:0:0:0:0:0:1` compare equal. */
export function canonicalIpv6(ip: string): string {
  const [head = '', tail] = ip.toLowerCase().split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const expand = (groups: string[]): string[] => groups.flatMap((g) => {
    if (!g.includes('.')) return [g];
    const o = g.split('.').map(Number);
    return [(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16), (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)];
  });
  const he = expand(h);
  const te = expand(t);
  const mid = tail === undefined ? [] : new Array<string>(8 - he.length - te.length).fill('0');
  return [...he, ...mid, ...te].map((g) => parseInt(g, 16).toString(16)).join(':');
}
