/**
 * Trust domains and SPIFFE-style workload identities (`spiffe://<trust-domain>/<workload-id>`), the URI SAN every
 * leaf carries. Syntax follows the SPIFFE ID specification (no percent-encoding, no empty or dot-only segments) so
 * standard SPIFFE validators accept our leaves; ids outside it are refused, not escaped, so an id maps to one URI.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';

/** Longest trust domain accepted (a DNS name is at most 255 characters). */
export const MAX_TRUST_DOMAIN_LENGTH = 255;
/** Longest SPIFFE ID accepted, per the SPIFFE ID specification. */
export const MAX_SPIFFE_ID_LENGTH = 2048;

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** True when `trustDomain` is a SPIFFE trust domain: 1-255 lowercase letters, digits, `.`, `-` or `_`. */
export function isTrustDomain(trustDomain: string): boolean {
  return typeof trustDomain === 'string' && trustDomain.length > 0 && trustDomain.length <= MAX_TRUST_DOMAIN_LENGTH && TRUST_DOMAIN_RE.test(trustDomain);
}

/** True when `path` (without the leading `/`) is a SPIFFE path: `/`-separated segments of `[A-Za-z0-9._-]`, none `.` or `..`. */
export function isSpiffePath(path: string): boolean {
  if (typeof path !== 'string' || path.length === 0) return false;
  return path.split('/').every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..');
}

/** Throws PKI_INPUT_INVALID unless `trustDomain` passes {@link isTrustDomain}. */
export function checkTrustDomain(trustDomain: string): void {
  if (!isTrustDomain(trustDomain)) {
    throw new CcmeshError(
      ErrorCode.PKI_INPUT_INVALID,
      `trust domain ${JSON.stringify(trustDomain)} is not 1-${MAX_TRUST_DOMAIN_LENGTH} characters of lowercase letters, digits, '.', '-' or '_'`,
    );
  }
}

/** `spiffe://<trustDomain>/<workloadId>`; throws PKI_INPUT_INVALID when either part is outside SPIFFE syntax. */
export function spiffeIdFor(trustDomain: string, workloadId: string): string {
  checkTrustDomain(trustDomain);
  if (!isSpiffePath(workloadId)) {
    throw new CcmeshError(
      ErrorCode.PKI_INPUT_INVALID,
      `workload id ${JSON.stringify(String(workloadId).slice(0, 100))} is not a SPIFFE path ('/'-separated segments of letters, digits, '.', '-', '_')`,
    );
  }
  const id = `spiffe://${trustDomain}/${workloadId}`;
  checkSpiffeId(id);
  return id;
}

/** Throws PKI_INPUT_INVALID unless `id` is a SPIFFE ID with a non-empty path. */
export function checkSpiffeId(id: string): void {
  const fail = (why: string): never => {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `SPIFFE ID ${JSON.stringify(String(id).slice(0, 100))} ${why}`);
  };
  if (typeof id !== 'string') fail('is not a string');
  if (id.length > MAX_SPIFFE_ID_LENGTH) fail(`is longer than ${MAX_SPIFFE_ID_LENGTH} characters`);
  if (!id.startsWith('spiffe://')) fail("does not start with 'spiffe://'");
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) fail('has no workload path');
  if (!isTrustDomain(rest.slice(0, slash))) fail('has an invalid trust domain');
  if (!isSpiffePath(rest.slice(slash + 1))) fail('has an empty, dot-only or invalid path segment');
}
