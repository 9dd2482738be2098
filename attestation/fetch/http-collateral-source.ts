/**
 * Collateral straight from AMD KDS and Intel PCS over HTTP (undici). Only ever used when an operator turns
 * fetching on; usually wrapped in a {@link CachingCollateralSource} because KDS throttles hard.
 */
import { Agent, type Dispatcher } from 'undici';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from '../../lib/clock.js';
import { CcmeshError, ConfigError, ErrorCode, type ConfigIssue } from '../../lib/errors.js';
import { type Logger, silentLogger } from '../../lib/log.js';
import {
  amdChainRequest,
  amdCrlRequest,
  amdVekRequest,
  type CollateralRequest,
  describeRequest,
  intelPckCrlRequest,
  intelQeIdentityRequest,
  intelRootCrlRequest,
  intelTcbInfoRequest,
  vendorOf,
} from './collateral-request.js';
import type { AmdProduct, AmdSigner, AmdTcb, CollateralSource, IntelPckCa, WithIssuerChain } from './collateral-source.js';
import { checkEndpoints, type CollateralEndpoints, collateralUrl, defaultCollateralEndpoints, issuerChainHeader } from './collateral-urls.js';
import { buildFetchMetrics, type FetchMetrics } from './fetch-metrics.js';
import { headerValue, httpGet, type HttpGetLimits, type HttpResponse, realSleep, type Sleep } from './http-get.js';
import { decodeExactText } from './text.js';

/** Settings of an {@link HttpCollateralSource}; plain frozen data. */
export interface HttpCollateralConfig extends HttpGetLimits {
  readonly endpoints: CollateralEndpoints;
  /** TCP+TLS connect timeout; applies to the agent the source creates when none is given. */
  readonly connectTimeoutMs: number;
}

/** Defaults: public vendor hosts, 10 s per phase, 1 MiB bodies, 4 attempts, waits of at most 10 s. */
export const defaultHttpCollateralConfig: HttpCollateralConfig = Object.freeze({
  endpoints: defaultCollateralEndpoints,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  attemptTimeoutMs: 30_000,
  // Real collateral is a few KiB (the largest, a PCK CRL, grows with revocations); 1 MiB leaves room.
  maxResponseBytes: 1024 * 1024,
  maxAttempts: 4,
  backoffBaseMs: 500,
  maxRetryDelayMs: 10_000,
});

/** Overrides for {@link buildHttpCollateralConfig}. */
export type HttpCollateralOverrides = Partial<Omit<HttpCollateralConfig, 'endpoints'>> & {
  readonly endpoints?: Partial<CollateralEndpoints>;
};

const POSITIVE_FIELDS = [
  'connectTimeoutMs',
  'headersTimeoutMs',
  'bodyTimeoutMs',
  'attemptTimeoutMs',
  'maxResponseBytes',
  'maxAttempts',
  'backoffBaseMs',
  'maxRetryDelayMs',
] as const;

/** Merges overrides onto the defaults and checks them, reporting every problem at once (ConfigError). */
export function buildHttpCollateralConfig(overrides: HttpCollateralOverrides = {}): HttpCollateralConfig {
  const endpoints = Object.freeze({ ...defaultCollateralEndpoints, ...overrides.endpoints });
  const merged: HttpCollateralConfig = { ...defaultHttpCollateralConfig, ...overrides, endpoints };
  const issues: ConfigIssue[] = checkEndpoints(endpoints);
  for (const field of POSITIVE_FIELDS) {
    const v = merged[field];
    if (!Number.isSafeInteger(v) || v < 1) issues.push({ field, value: String(v), expected: 'a positive integer' });
  }
  if (issues.length > 0) throw new ConfigError('collateral fetch settings', issues);
  return Object.freeze(merged);
}

/** Live handles of an {@link HttpCollateralSource}. */
export interface HttpCollateralRuntime {
  /** Where the fetch metrics go; never prom-client's global registry. */
  readonly registry: Registry;
  /** undici dispatcher to use; the caller keeps ownership. Without one the source creates (and closes) an Agent. */
  readonly dispatcher?: Dispatcher;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Aborts in-flight requests and backoff waits. */
  readonly signal?: AbortSignal;
  /** Replaces real waiting between retries; for tests. */
  readonly sleep?: Sleep;
}

/** Fetches collateral from AMD KDS / Intel PCS with bounded timeouts, size cap, retries and metrics. */
export class HttpCollateralSource implements CollateralSource {
  readonly #config: HttpCollateralConfig;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #metrics: FetchMetrics;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #sleep: Sleep;
  readonly #signal: AbortSignal | undefined;
  #closed = false;

  constructor(config: HttpCollateralConfig, runtime: HttpCollateralRuntime) {
    this.#config = config;
    this.#ownsDispatcher = runtime.dispatcher === undefined;
    this.#dispatcher = runtime.dispatcher ?? new Agent({ connect: { timeout: config.connectTimeoutMs } });
    this.#metrics = buildFetchMetrics(runtime.registry);
    this.#clock = runtime.clock ?? systemClock;
    this.#logger = runtime.logger ?? silentLogger;
    this.#sleep = runtime.sleep ?? realSleep;
    this.#signal = runtime.signal;
  }

  /** Closes the agent this source created; a dispatcher passed in is left to its owner. */
  async close(): Promise<void> {
    if (!this.#ownsDispatcher || this.#closed) return;
    this.#closed = true;
    await this.#dispatcher.close();
  }

  async amdVek(product: AmdProduct, chipId: Uint8Array, tcb: AmdTcb): Promise<Uint8Array> {
    return (await this.#get(amdVekRequest(product, chipId, tcb))).body;
  }

  async amdChain(product: AmdProduct, signer: AmdSigner): Promise<string> {
    const req = amdChainRequest(product, signer);
    const res = await this.#get(req);
    return this.#text(req, res.body);
  }

  async amdCrl(product: AmdProduct): Promise<Uint8Array> {
    return (await this.#get(amdCrlRequest(product))).body;
  }

  async intelTdxTcbInfo(fmspcHex: string): Promise<WithIssuerChain<string>> {
    return this.#textWithChain(intelTcbInfoRequest(fmspcHex));
  }

  async intelQeIdentity(): Promise<WithIssuerChain<string>> {
    return this.#textWithChain(intelQeIdentityRequest());
  }

  async intelPckCrl(ca: IntelPckCa): Promise<WithIssuerChain<Uint8Array>> {
    const req = intelPckCrlRequest(ca);
    const res = await this.#get(req);
    return { body: res.body, issuerChain: this.#issuerChain(req, res) };
  }

  async intelRootCrl(): Promise<Uint8Array> {
    return (await this.#get(intelRootCrlRequest())).body;
  }

  #get(req: CollateralRequest): Promise<HttpResponse> {
    const source = vendorOf(req.kind);
    return httpGet(collateralUrl(req, this.#config.endpoints), describeRequest(req), this.#config, {
      dispatcher: this.#dispatcher,
      clock: this.#clock,
      logger: this.#logger,
      sleep: this.#sleep,
      signal: this.#signal,
      onAttempt: (result, seconds) => this.#metrics.observe(source, result, seconds),
    });
  }

  async #textWithChain(req: CollateralRequest): Promise<WithIssuerChain<string>> {
    const res = await this.#get(req);
    return { body: this.#text(req, res.body), issuerChain: this.#issuerChain(req, res) };
  }

  #text(req: CollateralRequest, body: Uint8Array): string {
    const text = decodeExactText(body);
    if (text === undefined) throw this.#malformed(req, 'response body is not UTF-8 text');
    return text;
  }

  /** The URL-decoded PEM chain of the kind's issuer-chain header. */
  #issuerChain(req: CollateralRequest, res: HttpResponse): string {
    const name = issuerChainHeader(req) ?? '';
    const raw = headerValue(res.headers, name);
    if (raw === undefined) throw this.#malformed(req, `response lacks exactly one ${name} header`);
    let pem: string;
    try {
      // Intel percent-encodes the PEM text (spaces, newlines) to fit it into one header line.
      pem = decodeURIComponent(raw);
    } catch (err) {
      throw this.#malformed(req, `${name} header is not valid percent-encoding`, err);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw this.#malformed(req, `${name} header holds no PEM certificate`);
    return pem;
  }

  #malformed(req: CollateralRequest, what: string, cause?: unknown): CcmeshError {
    const url = collateralUrl(req, this.#config.endpoints);
    return new CcmeshError(ErrorCode.ATTEST_FETCH, `fetching ${describeRequest(req)} from ${url}: ${what}`, { cause });
  }
}
