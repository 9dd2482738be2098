/**
 * Subject alternative names of a policy entry: DNS names, wildcard DNS names and IP addresses, normalised so that
 * spellings of the same name compare equal (DNS is case-insensitive; IPv6 has many spellings).
 */
import { isIPv4, isIPv6 } from 'node:net';

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The lowercase form of `s` when it is a DNS name (labels of letters, digits, inner hyphens; ≤ 253 chars). */
export function normaliseDnsName(s: string): string | undefined {
  const name = s.toLowerCase();
  if (name.length === 0 || name.length > 253) return undefined;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL_RE.test(l))) return undefined;
  // An all-digit last label would read as an (invalid) IPv4 address, e.g. "10.0.0.256".
  if (/^\d+$/.test(labels.at(-1) ?? '')) return undefined;
  return name;
}

/** The normalised SAN, or undefined when `s` is neither a DNS name, `*.`+DNS name nor an IP address. */
export function normaliseSan(s: string): string | undefined {
  if (isIPv4(s)) return s;
  if (isIPv6(s)) {
    if (s.includes('%')) return undefined; // zone ids are link-local routing hints, not identities
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  }
  if (s.startsWith('*.')) {
    const rest = normaliseDnsName(s.slice(2));
    return rest === undefined ? undefined : `*.${rest}`;
  }
  return normaliseDnsName(s);
}

/** Which kind of SAN a normalised value is, for certificate building. */
export function sanKind(san: string): 'dns' | 'ip' {
  return isIPv4(san) || isIPv6(san) ? 'ip' : 'dns';
}
