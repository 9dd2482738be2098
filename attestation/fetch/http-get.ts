/**
 * One bounded HTTP GET with retries, the only place collateral touches the network. Every wait is bounded: a
 * per-attempt deadline on top of undici's headers/body timeouts, a response-size cap enforced while streaming
 * (a larger body is refused without being buffered), and a capped number of attempts whose backoff honours
 * Retry-After only up to a limit. Failures become one CcmeshError naming the URL and what went wrong.
 */
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { FetchResult } from './fetch-metrics.js';

/** Limits of one {@link httpGet}. */
export interface HttpGetLimits {
  /** Time allowed until the response headers arrive. */
  readonly headersTimeoutMs: number;
  /** Longest silence allowed between body chunks. */
  readonly bodyTimeoutMs: number;
  /** Deadline of one attempt from request to last body byte; stops a slow drip that never idles. */
  readonly attemptTimeoutMs: number;
  /** Largest body accepted; larger ones are refused while streaming. */
  readonly maxResponseBytes: number;
  /** Attempts in total, including the first. */
  readonly maxAttempts: number;
  /** First backoff; doubles per retry (with jitter) up to {@link maxRetryDelayMs}. */
  readonly backoffBaseMs: number;
  /** Longest single wait between attempts; a Retry-After asking for more ends the retries. */
  readonly maxRetryDelayMs: number;
}

/** Waits `ms`, rejecting early when `signal` aborts; injectable so tests observe delays without waiting. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real {@link Sleep}. */
export const realSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : {});
};

/** Live handles of one {@link httpGet}. */
export interface HttpGetRuntime {
  readonly dispatcher: Dispatcher | undefined;
  /** Turns a Retry-After HTTP-date into a delay. */
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sleep: Sleep;
  /** Aborts the request and any backoff, e.g. at shutdown. */
  readonly signal: AbortSignal | undefined;
  /** Called once per attempt with its outcome and duration, for metrics. */
  readonly onAttempt: (result: FetchResult, seconds: number) => void;
}

/** A successful response: status 2xx, body within the size cap. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
}

type Attempt =
  | { readonly ok: true; readonly response: HttpResponse }
  | {
      readonly ok: false;
      readonly result: FetchResult;
      readonly retryable: boolean;
      readonly detail: string;
      readonly retryAfterMs?: number;
      readonly cause?: unknown;
    };

/** Statuses worth another attempt: throttling and transient server or gateway failures. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/** Error bodies are read only this far, to put a hint from the server into the message. */
const ERROR_SNIPPET_BYTES = 512;

const HEADERS = { accept: '*/*', 'user-agent': 'ccmesh' } as const;

/** GETs `url` (describing it as `what` in errors) within `limits`, retrying transient failures. */
export async function httpGet(url: string, what: string, limits: HttpGetLimits, rt: HttpGetRuntime): Promise<HttpResponse> {
  for (let n = 1; ; n++) {
    const started = performance.now();
    const a = await attemptOnce(url, limits, rt);
    rt.onAttempt(a.ok ? 'ok' : a.result, (performance.now() - started) / 1000);
    if (a.ok) return a.response;
    if (!a.retryable || n >= limits.maxAttempts) throw failure(url, what, n, a.detail, a.cause);
    let wait = backoffMs(n, limits);
    if (a.retryAfterMs !== undefined) {
      if (a.retryAfterMs > limits.maxRetryDelayMs) {
        const detail = `${a.detail}; server asked to retry after ${seconds(a.retryAfterMs)}, longer than the ${seconds(limits.maxRetryDelayMs)} this client waits`;
        throw failure(url, what, n, detail, a.cause);
      }
      wait = Math.max(wait, a.retryAfterMs);
    }
    rt.logger.warn('collateral fetch retry', { url, attempt: n, of: limits.maxAttempts, delayMs: wait, reason: a.detail });
    try {
      await rt.sleep(wait, rt.signal);
    } catch (err) {
      throw failure(url, what, n, 'aborted while waiting to retry', err);
    }
  }
}

function failure(url: string, what: string, attempts: number, detail: string, cause: unknown): CcmeshError {
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return new CcmeshError(ErrorCode.ATTEST_FETCH, `fetching ${what} from ${url} failed after ${tries}: ${detail}`, { cause });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Exponential backoff with "equal jitter", so many verifiers retrying together spread out. */
function backoffMs(retry: number, limits: HttpGetLimits): number {
  const ceiling = Math.min(limits.maxRetryDelayMs, limits.backoffBaseMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Marks our own per-attempt deadline, to tell it from the caller's abort. */
class AttemptDeadline extends Error {}

async function attemptOnce(url: string, limits: HttpGetLimits, rt: HttpGetRuntime): Promise<Attempt> {
  if (rt.signal?.aborted) return { ok: false, result: 'aborted', retryable: false, detail: 'aborted', cause: rt.signal.reason };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new AttemptDeadline()), limits.attemptTimeoutMs);
  const onAbort = (): void => ac.abort(rt.signal?.reason);
  rt.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await request(url, {
      dispatcher: rt.dispatcher,
      method: 'GET',
      headers: HEADERS,
      headersTimeout: limits.headersTimeoutMs,
      bodyTimeout: limits.bodyTimeoutMs,
      signal: ac.signal,
    });
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      const declared = contentLength(res.headers);
      if (declared !== undefined && declared > limits.maxResponseBytes) {
        discard(res.body);
        return tooLarge(`response of ${declared} bytes (Content-Length) exceeds the ${limits.maxResponseBytes}-byte limit`);
      }
      const body = await readAtMost(res.body, limits.maxResponseBytes);
      if (body === undefined) return tooLarge(`response body exceeds the ${limits.maxResponseBytes}-byte limit`);
      return { ok: true, response: { status, headers: res.headers, body } };
    }
    const snippet = printable(await readAtMost(res.body, ERROR_SNIPPET_BYTES, true));
    let detail = `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
    if (status >= 300 && status < 400) {
      // Vendor services answer directly; following redirects would hand the URL choice to the network.
      detail += ` (redirect to ${printable(headerValue(res.headers, 'location') ?? '') || 'nowhere'} not followed)`;
    }
    if (snippet !== '') detail += `: ${snippet}`;
    const retryAfterMs = parseRetryAfter(headerValue(res.headers, 'retry-after'), rt.clock);
    const result: FetchResult = status === 429 ? 'throttled' : 'http_error';
    return { ok: false, result, retryable: RETRYABLE_STATUS.has(status), detail, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  } catch (err) {
    return classifyError(err, ac.signal, rt.signal, limits);
  } finally {
    clearTimeout(timer);
    rt.signal?.removeEventListener('abort', onAbort);
  }
}

function tooLarge(detail: string): Attempt {
  // A bigger body will not shrink on retry.
  return { ok: false, result: 'too_large', retryable: false, detail };
}

function classifyError(err: unknown, own: AbortSignal, caller: AbortSignal | undefined, limits: HttpGetLimits): Attempt {
  if (caller?.aborted) return { ok: false, result: 'aborted', retryable: false, detail: 'aborted', cause: err };
  if (own.aborted && own.reason instanceof AttemptDeadline) {
    return { ok: false, result: 'timeout', retryable: true, detail: `no complete response within ${limits.attemptTimeoutMs} ms`, cause: err };
  }
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { ok: false, result: 'timeout', retryable: true, detail: `no response headers within ${limits.headersTimeoutMs} ms`, cause: err };
    case 'UND_ERR_BODY_TIMEOUT':
      return { ok: false, result: 'timeout', retryable: true, detail: `response body stalled for ${limits.bodyTimeoutMs} ms`, cause: err };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { ok: false, result: 'timeout', retryable: true, detail: 'connect timed out', cause: err };
    default: {
      const message = err instanceof Error ? err.message : String(err);
      const prefix = typeof code === 'string' ? `${code}: ` : '';
      return { ok: false, result: 'network_error', retryable: true, detail: `request failed: ${prefix}${message}`, cause: err };
    }
  }
}

/**
 * Reads `body` while it stays within `limit` bytes. Over the limit it stops reading and destroys the stream
 * (closing the connection), returning undefined, or the first `limit` bytes when `truncate` is set.
 */
async function readAtMost(body: Body, limit: number, truncate = false): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (total + buf.length > limit) {
      discard(body);
      if (!truncate) return undefined;
      chunks.push(buf.subarray(0, limit - total));
      total = limit;
      break;
    }
    chunks.push(buf);
    total += buf.length;
  }
  // Copy out of Buffer.concat's possibly pooled memory: callers keep and cache this array.
  return new Uint8Array(Buffer.concat(chunks, total));
}

type Body = AsyncIterable<unknown> & { destroy(): unknown; on(event: 'error', listener: () => void): unknown };

/** Stops reading a response and closes its connection. */
function discard(body: Body): void {
  // undici reports a body destroyed before its end as an 'error' (RequestAbortedError); we chose to stop, so
  // that error carries no news, and unheard it would crash the process as an uncaught exception.
  body.on('error', () => undefined);
  body.destroy();
}

function printable(b: Uint8Array | string | undefined): string {
  if (b === undefined) return '';
  const s = typeof b === 'string' ? b : Buffer.from(b).toString('latin1');
  // Server text goes into messages and logs: no control characters, bounded length.
  return s.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);
}

/** The single value of a response header; undefined when absent or sent more than once. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return typeof v === 'string' ? v : undefined;
}

function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const v = headerValue(headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP-date relative to `clock`; undefined when unusable. */
export function parseRetryAfter(value: string | undefined, clock: Clock): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - clock.nowMs());
}
