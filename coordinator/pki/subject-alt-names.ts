/**
 * Turning the SAN strings of a manifest policy entry into typed X.509 GeneralNames: IP literals become iPAddress,
 * everything else must be a DNS name (optionally with a `*.` wildcard as its whole leftmost label) and becomes
 * dNSName. Anything else is refused rather than passed through, so a typo can't yield a name no peer will ever match.
 */
import { isIP } from 'node:net';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** One subject alternative name, typed. */
export type SubjectAltName =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'ip'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string };

/** Longest DNS name accepted (RFC 1035, without the trailing dot). */
export const MAX_DNS_NAME_LENGTH = 253;
/** Most SANs accepted on one leaf; bounds certificate size and per-handshake matching work. */
export const MAX_SANS = 100;

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True when `name` is an LDH DNS name, optionally `*.`-prefixed. */
export function isDnsSan(name: string): boolean {
  if (name.length === 0 || name.length > MAX_DNS_NAME_LENGTH) return false;
  const labels = name.split('.');
  if (labels[0] === '*') labels.shift();
  return labels.length > 0 && labels.every((l) => LABEL_RE.test(l));
}

/** Classifies every SAN (IP or DNS); throws PKI_INPUT_INVALID naming each one that is neither. Duplicates are dropped. */
export function parseSubjectAltNames(sans: readonly string[]): SubjectAltName[] {
  if (sans.length > MAX_SANS) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `a leaf takes at most ${MAX_SANS} SANs, got ${sans.length}`);
  const out: SubjectAltName[] = [];
  const seen = new Set<string>();
  const bad: string[] = [];
  for (const san of sans) {
    if (typeof san !== 'string') {
      bad.push(String(san));
      continue;
    }
    let typed: SubjectAltName;
    // A zone id (`fe80::1%eth0`) names a local interface; it has no place in a certificate's 16-byte iPAddress.
    if (isIP(san) !== 0 && !san.includes('%')) typed = { type: 'ip', value: san };
    else if (isDnsSan(san)) typed = { type: 'dns', value: san.toLowerCase() };
    else {
      bad.push(JSON.stringify(san.slice(0, 100)));
      continue;
    }
    const key = `${typed.type}:${typed.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(typed);
    }
  }
  if (bad.length > 0) {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `SANs that are neither an IP address nor a DNS name: ${bad.join(', ')}`);
  }
  return out;
}

/** The iPAddress octets of an IP literal: 4 for IPv4, 16 for IPv6 (including `::ffff:a.b.c.d` forms). */
export function ipSanBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6 || ip.includes('%')) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `${JSON.stringify(ip.slice(0, 100))} is not an IP address a certificate can carry`);
  // isIP has vetted the syntax, so only the shape remains: groups around at most one '::', maybe a dotted tail.
  let text = ip;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail.push(...text.slice(lastColon + 1).split('.').map(Number));
    text = text.slice(0, lastColon + 1) + '0:0'; // placeholder groups, overwritten by the IPv4 octets below
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groupsOf = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = groupsOf(head);
  const right = rest === undefined ? [] : groupsOf(rest);
  const groups = rest === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) out.set(tail, 12);
  return out;
}
