/**
 * The wire contract of the tunnel between two ccmesh sidecars (docs/proxy.md, "Pooled tunnel"): TLS 1.2+/1.3 mTLS
 * with ALPN {@link TUNNEL_ALPN}, HTTP/2 on top, one CONNECT stream per application connection with
 * `:authority = 127.0.0.1:PORT` (the port the per-connection path would have dialled: the peer's listener port, or
 * the original destination port of a captured connection). The inbound side answers 200 once the app accepted the
 * forwarded connection, 403 when it refuses the stream, 502 when the app is unreachable.
 */
import type { Settings } from 'node:http2';

/** The ALPN protocol id; a peer that does not select it gets per-connection mTLS. */
export const TUNNEL_ALPN = 'ccmesh-tunnel/1';

/**
 * What the stream windows of one pooled connection may add up to. Node hands connection-level window back as soon as
 * data arrives (only the stream level waits for the reader), so a peer that opens many streams to an app that does not
 * read makes this side hold every stream's full window: the bound per pooled connection is streams × window, which
 * {@link streamWindow} keeps at or below this budget.
 */
export const SESSION_WINDOW_BUDGET = 32 * 1024 * 1024;

/**
 * The largest per-stream receive window. The peer may send at most a window before we read it, so it bounds the memory
 * one stream holds on the receiving side (plus the sockets' and stream's 64 KiB buffers); 512 KiB keeps one bulk stream
 * at loopback speed (the window covers a few milliseconds of transfer).
 */
export const MAX_STREAM_WINDOW = 512 * 1024;

/** The most streams one pooled connection may carry (`--tunnel-streams`): their window is then 32 KiB. */
export const MAX_STREAMS_LIMIT = 1024;

/**
 * The per-stream receive window with `maxStreams` streams per connection: {@link MAX_STREAM_WINDOW}, or less so that
 * `maxStreams` full windows fit {@link SESSION_WINDOW_BUDGET} (default 128 streams: 256 KiB).
 */
export function streamWindow(maxStreams: number): number {
  return Math.min(MAX_STREAM_WINDOW, Math.floor(SESSION_WINDOW_BUDGET / Math.max(1, maxStreams)));
}

/**
 * Connection receive window: the whole budget, so several streams move at full speed; it never stalls other streams
 * behind a slow one (see {@link SESSION_WINDOW_BUDGET}).
 */
export const CONNECTION_WINDOW = SESSION_WINDOW_BUDGET;

/**
 * nghttp2 and Node's per-session memory bound (MB; Node's default is 10). A session over it is torn down with
 * ENHANCE_YOUR_CALM, so it must hold maxStreams streams with their header state and outstanding writes.
 */
export const MAX_SESSION_MEMORY_MB = 256;

/** The SETTINGS both sides send. */
export function tunnelSettings(maxStreams: number): Settings {
  return { enablePush: false, initialWindowSize: streamWindow(maxStreams), maxConcurrentStreams: maxStreams, maxFrameSize: 64 * 1024 - 1 };
}

/** The `:authority` of a stream to `port`. */
export function tunnelAuthority(port: number): string {
  return `127.0.0.1:${port}`;
}

const AUTHORITY = /^127\.0\.0\.1:([1-9][0-9]{0,4})$/;

/** The port a CONNECT `:authority` names, or undefined when it is not exactly `127.0.0.1:PORT` with PORT 1–65535. */
export function parseTunnelAuthority(authority: unknown): number | undefined {
  if (typeof authority !== 'string') return undefined;
  const m = AUTHORITY.exec(authority);
  if (!m) return undefined;
  const port = Number(m[1]);
  return port <= 65_535 ? port : undefined;
}

/** What the inbound side makes of a stream's request headers: the CONNECT port, or a refusal (`bad-request`). */
export type TunnelRequest = { readonly ok: true; readonly port: number } | { readonly ok: false };

/**
 * Reads a stream's request headers (attacker-controlled: any mesh peer with a pooled connection sends them). Only a
 * plain CONNECT (RFC 9113 §8.5: `:method` CONNECT, `:authority` `127.0.0.1:PORT`, no `:scheme` and no `:path`, so
 * no extended CONNECT either) is a request; anything else — other methods, repeated or non-string values, a
 * `:protocol` — is refused. Never throws, whatever `headers` is.
 */
export function readTunnelRequest(headers: unknown): TunnelRequest {
  if (typeof headers !== 'object' || headers === null) return { ok: false };
  const h = headers as Readonly<Record<string, unknown>>;
  const own = (name: string): unknown => (Object.hasOwn(h, name) ? h[name] : undefined);
  if (own(':method') !== 'CONNECT') return { ok: false };
  if (own(':scheme') !== undefined || own(':path') !== undefined || own(':protocol') !== undefined) return { ok: false };
  const port = parseTunnelAuthority(own(':authority'));
  return port === undefined ? { ok: false } : { ok: true, port };
}

/** An L7 request's pseudo-headers, read by {@link readHttpRequest}. */
export type HttpRequestHead = { readonly ok: true; readonly port: number; readonly method: string; readonly path: string } | { readonly ok: false };

const METHOD = /^[A-Z][A-Z0-9-]{0,31}$/;

/**
 * Reads the pseudo-headers of an L7 request stream (docs/proxy.md, "L7 HTTP"; attacker-controlled like a CONNECT's):
 * `:method` a token other than CONNECT, `:scheme` http, `:authority` exactly `127.0.0.1:PORT`, `:path` an origin form
 * (`/…`, or `*` for OPTIONS) without whitespace, and no `:protocol`. Anything else is refused. Never throws.
 */
export function readHttpRequest(headers: unknown): HttpRequestHead {
  if (typeof headers !== 'object' || headers === null) return { ok: false };
  const h = headers as Readonly<Record<string, unknown>>;
  // Only the request's own fields count (an inherited :authority is not one).
  const own = (field: string): unknown => (Object.hasOwn(h, field) ? h[field] : undefined);
  const method = own(':method');
  const path = own(':path');
  if (typeof method !== 'string' || !METHOD.test(method) || method === 'CONNECT') return { ok: false };
  if (own(':scheme') !== 'http' || own(':protocol') !== undefined || typeof path !== 'string') return { ok: false };
  if (!(path.startsWith('/') || (path === '*' && method === 'OPTIONS')) || hasControlOrSpace(path)) return { ok: false };
  const authority = own(':authority');
  const port = parseTunnelAuthority(authority);
  return port === undefined ? { ok: false } : { ok: true, port, method, path };
}

/** Whether `s` holds whitespace, a control character or DEL (never valid in a request target). */
export function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}
