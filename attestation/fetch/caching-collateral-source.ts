/**
 * A disk cache in front of any {@link CollateralSource}. Fresh entries are served without asking the inner
 * source; stale, missing or unreadable ones are refetched and replaced atomically; concurrent identical
 * requests share one lookup. In front of a {@link DisabledCollateralSource} it is an offline, cache-only source.
 *
 * SECURITY: the cache is a convenience, not a trust decision. The verifier checks every certificate, CRL and
 * signed document up to pinned vendor roots on every use, so a cache file is at worst refused, never believed.
 * Files are still checked for completeness (length + SHA-256) so that a torn write reads as a miss, and the
 * directory is private so other users cannot plant entries that would only fail verification.
 */
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import { type Logger, silentLogger } from '../../lib/log.js';
import { type CacheEntry, decodeCacheEntry, encodeCacheEntry } from './cache-entry.js';
import {
  amdChainRequest,
  amdCrlRequest,
  amdVekRequest,
  COLLATERAL_KINDS,
  type CollateralKind,
  type CollateralRequest,
  intelPckCrlRequest,
  intelQeIdentityRequest,
  intelRootCrlRequest,
  intelTcbInfoRequest,
  requestKey,
} from './collateral-request.js';
import type { AmdProduct, AmdSigner, AmdTcb, CollateralSource, IntelPckCa, WithIssuerChain } from './collateral-source.js';
import { DiskCache } from './disk-cache.js';
import { SingleFlight } from './single-flight.js';
import { defaultFreshnessRule, type FreshnessRule, isFresh, usableWhenStale } from './freshness.js';
import { inspectCollateral } from './inspect-collateral.js';
import { decodeExactText, encodeText } from './text.js';

/** Settings of a {@link CachingCollateralSource}. */
export interface CollateralCacheConfig extends FreshnessRule {
  /** Cache directory; created 0700 if missing, tightened to 0700 if looser. */
  readonly dir: string;
  /** Serve a stale certificate (or a document still before its nextUpdate) when refetching fails. */
  readonly serveStaleOnError: boolean;
}

/** Defaults for everything but the directory. */
export const defaultCollateralCacheSettings: Omit<CollateralCacheConfig, 'dir'> = Object.freeze({
  ...defaultFreshnessRule,
  serveStaleOnError: true,
});

/** Live handles of a {@link CachingCollateralSource}. */
export interface CollateralCacheRuntime {
  /** Decides freshness; tests move a FixedClock. */
  readonly clock: Clock;
  readonly logger?: Logger;
  /** When given, cache lookups are counted in `ccmesh_attest_collateral_cache_lookups_total{kind,result}`. */
  readonly registry?: Registry;
}

/** How a lookup was answered; a closed set of label values. */
type LookupResult = 'hit' | 'miss' | 'stale' | 'corrupt' | 'stale_on_error';
const LOOKUP_RESULTS: readonly LookupResult[] = ['hit', 'miss', 'stale', 'corrupt', 'stale_on_error'];
const LOOKUPS = 'ccmesh_attest_collateral_cache_lookups_total';

/** What the cache keeps of a response; the public shapes are rebuilt from it for each caller. */
interface Stored {
  readonly body: Uint8Array;
  readonly issuerChain?: string | undefined;
}

/** Caches any collateral source on disk with per-kind freshness, atomic writes and single flight. */
export class CachingCollateralSource implements CollateralSource {
  readonly #inner: CollateralSource;
  readonly #config: CollateralCacheConfig;
  readonly #disk: DiskCache;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lookups: ((kind: CollateralKind, result: LookupResult) => void) | undefined;
  readonly #flights = new SingleFlight<Stored>();

  constructor(inner: CollateralSource, config: CollateralCacheConfig, runtime: CollateralCacheRuntime) {
    this.#inner = inner;
    this.#config = config;
    this.#disk = new DiskCache(config.dir);
    this.#clock = runtime.clock;
    this.#logger = runtime.logger ?? silentLogger;
    this.#lookups = runtime.registry ? buildLookupCounter(runtime.registry) : undefined;
  }

  async amdVek(product: AmdProduct, chipId: Uint8Array, tcb: AmdTcb): Promise<Uint8Array> {
    return bytes(await this.#lookup(amdVekRequest(product, chipId, tcb), async () => ({ body: await this.#inner.amdVek(product, chipId, tcb) })));
  }

  async amdChain(product: AmdProduct, signer: AmdSigner): Promise<string> {
    const s = await this.#lookup(amdChainRequest(product, signer), async () => ({ body: encodeText(await this.#inner.amdChain(product, signer)) }));
    return text(s);
  }

  async amdCrl(product: AmdProduct): Promise<Uint8Array> {
    return bytes(await this.#lookup(amdCrlRequest(product), async () => ({ body: await this.#inner.amdCrl(product) })));
  }

  async intelTdxTcbInfo(fmspcHex: string): Promise<WithIssuerChain<string>> {
    const s = await this.#lookup(intelTcbInfoRequest(fmspcHex), async () => textWithChain(await this.#inner.intelTdxTcbInfo(fmspcHex)));
    return { body: text(s), issuerChain: chain(s) };
  }

  async intelQeIdentity(): Promise<WithIssuerChain<string>> {
    const s = await this.#lookup(intelQeIdentityRequest(), async () => textWithChain(await this.#inner.intelQeIdentity()));
    return { body: text(s), issuerChain: chain(s) };
  }

  async intelPckCrl(ca: IntelPckCa): Promise<WithIssuerChain<Uint8Array>> {
    const s = await this.#lookup(intelPckCrlRequest(ca), async () => this.#inner.intelPckCrl(ca));
    return { body: bytes(s), issuerChain: chain(s) };
  }

  async intelRootCrl(): Promise<Uint8Array> {
    return bytes(await this.#lookup(intelRootCrlRequest(), async () => ({ body: await this.#inner.intelRootCrl() })));
  }

  /** Single-flight wrapper: concurrent identical requests share one cache read and at most one fetch. */
  #lookup(req: CollateralRequest, fetch: () => Promise<Stored>): Promise<Stored> {
    const key = requestKey(req);
    return this.#flights.run(key, () => this.#readOrFetch(req, key, fetch));
  }

  async #readOrFetch(req: CollateralRequest, key: string, fetch: () => Promise<Stored>): Promise<Stored> {
    const name = `${req.kind}-${key}.entry`;
    const cached = await this.#read(req.kind, key, name);
    const now = this.#clock.nowMs();
    if (cached && isFresh(cached, now, this.#config)) {
      this.#lookups?.(req.kind, 'hit');
      return cached;
    }
    if (cached) this.#lookups?.(req.kind, 'stale');
    let fetched: Stored;
    try {
      fetched = await fetch();
    } catch (err) {
      if (cached && this.#config.serveStaleOnError && usableWhenStale(cached, this.#clock.nowMs())) {
        this.#lookups?.(req.kind, 'stale_on_error');
        this.#logger.warn('collateral refetch failed, serving stale cache entry', { kind: req.kind, key, fetchedAtMs: cached.fetchedAtMs, err });
        return cached;
      }
      throw err;
    }
    const inspection = inspectCollateral(req.kind, fetched.body);
    if (!inspection.usable) {
      // Still returned: judging it is the verifier's job. Only caching it for days would be wrong.
      this.#logger.warn('fetched collateral not cached: unreadable', { kind: req.kind, key, problem: inspection.problem });
      return fetched;
    }
    const entry: CacheEntry = {
      kind: req.kind,
      key,
      fetchedAtMs: this.#clock.nowMs(),
      nextUpdateMs: inspection.nextUpdateMs,
      issuerChain: fetched.issuerChain,
      body: fetched.body,
    };
    try {
      await this.#disk.write(name, encodeCacheEntry(entry));
    } catch (err) {
      // The cache is best effort: a full disk must not turn a successful fetch into a failed verification.
      this.#logger.warn('collateral cache write failed', { kind: req.kind, dir: this.#disk.dir, err });
    }
    return entry;
  }

  /** A complete entry for the request, or undefined (missing, unreadable or corrupt — all mean refetch). */
  async #read(kind: CollateralKind, key: string, name: string): Promise<CacheEntry | undefined> {
    let raw: Uint8Array | undefined;
    try {
      await this.#disk.ensureDir();
      raw = await this.#disk.read(name);
    } catch (err) {
      this.#logger.warn('collateral cache unreadable', { kind, dir: this.#disk.dir, err: describeError(err) });
      return undefined;
    }
    if (raw === undefined) {
      this.#lookups?.(kind, 'miss');
      return undefined;
    }
    const decoded = decodeCacheEntry(raw, { key, kind });
    if (!decoded.ok) {
      this.#lookups?.(kind, 'corrupt');
      this.#logger.warn('collateral cache entry ignored', { kind, key, problem: decoded.problem });
      return undefined;
    }
    return decoded.entry;
  }
}

function buildLookupCounter(registry: Registry): (kind: CollateralKind, result: LookupResult) => void {
  const found = registry.getSingleMetric(LOOKUPS);
  const counter =
    found instanceof Counter
      ? found
      : new Counter({
          name: LOOKUPS,
          help: 'Collateral cache lookups by kind and outcome (hit, miss, stale, corrupt, stale_on_error).',
          labelNames: ['kind', 'result'] as const,
          registers: [registry],
        });
  const children = new Map<string, Counter.Internal>();
  for (const kind of COLLATERAL_KINDS) for (const result of LOOKUP_RESULTS) children.set(`${kind}/${result}`, counter.labels(kind, result));
  return (kind, result) => children.get(`${kind}/${result}`)?.inc();
}

/** A private copy per caller: single flight hands the same stored value to every concurrent caller. */
function bytes(s: Stored): Uint8Array {
  return s.body.slice();
}

function text(s: Stored): string {
  const t = decodeExactText(s.body);
  // Text kinds are encoded from strings on fetch and checked as UTF-8 when read back (cache-entry.ts).
  if (t === undefined) throw new CcmeshError(ErrorCode.INTERNAL, 'cached text collateral is not UTF-8');
  return t;
}

function chain(s: Stored): string {
  // Kinds with an issuer chain always store one (cache-entry.ts refuses files without).
  if (s.issuerChain === undefined) throw new CcmeshError(ErrorCode.INTERNAL, 'cached collateral lacks its issuer chain');
  return s.issuerChain;
}

function textWithChain(w: WithIssuerChain<string>): Stored {
  return { body: encodeText(w.body), issuerChain: w.issuerChain };
}
