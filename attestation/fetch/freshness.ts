/**
 * How long a cached response may be served without asking the vendor again. Certificates (VCEK, ASK/ARK
 * chains) are long-lived and change only with a new TCB or key rotation, so they get a long TTL. Revocation
 * lists and TCB documents carry their own nextUpdate and are served until then; without a readable nextUpdate
 * a shorter TTL applies. Time comes from the injected clock.
 */
import type { CollateralKind } from './collateral-request.js';
import type { CacheEntry } from './cache-entry.js';

/** TTLs of the two families of collateral. */
export interface FreshnessRule {
  /** VCEK and ASK/ASVK+ARK chains. */
  readonly certificateTtlMs: number;
  /** CRLs, TCB info and QE identity whose nextUpdate could not be read. */
  readonly documentTtlMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** 30 days for certificates, 24 h for documents without a nextUpdate. */
export const defaultFreshnessRule: FreshnessRule = Object.freeze({ certificateTtlMs: 30 * DAY_MS, documentTtlMs: DAY_MS });

function isCertificate(kind: CollateralKind): boolean {
  return kind === 'amd-vek' || kind === 'amd-chain';
}

/** The instant (ms) after which `entry` must be refetched. */
export function freshUntilMs(entry: Pick<CacheEntry, 'kind' | 'fetchedAtMs' | 'nextUpdateMs'>, rule: FreshnessRule): number {
  if (isCertificate(entry.kind)) return entry.fetchedAtMs + rule.certificateTtlMs;
  // A document already past its nextUpdate when fetched is stale at once: the next request asks again.
  if (entry.nextUpdateMs !== undefined) return Math.max(entry.fetchedAtMs, entry.nextUpdateMs);
  return entry.fetchedAtMs + rule.documentTtlMs;
}

/** True when `entry` may be served at `nowMs` without refetching. */
export function isFresh(entry: Pick<CacheEntry, 'kind' | 'fetchedAtMs' | 'nextUpdateMs'>, nowMs: number, rule: FreshnessRule): boolean {
  // An entry "fetched in the future" means the clock moved back or the file is not what we wrote: refetch.
  return entry.fetchedAtMs <= nowMs && nowMs < freshUntilMs(entry, rule);
}

/**
 * True when a stale `entry` may still stand in for a failed fetch: a document past its nextUpdate is useless
 * to the verifier (it would be refused as expired), so the fetch error is the better answer.
 */
export function usableWhenStale(entry: Pick<CacheEntry, 'nextUpdateMs'>, nowMs: number): boolean {
  return entry.nextUpdateMs === undefined || nowMs < entry.nextUpdateMs;
}
