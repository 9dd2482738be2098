/**
 * Header hygiene of the L7 path (docs/proxy.md, "L7 HTTP"): what a request or response keeps when it crosses the
 * sidecar. Hop-by-hop fields (RFC 9110 §7.6.1) belong to one connection and never cross: `Connection` and every field
 * it names, `Keep-Alive`, `Proxy-*`, `TE` (except `TE: trailers`, which gRPC needs end to end),
 * `Transfer-Encoding`, `Upgrade`, `HTTP2-Settings`, `Expect` (each hop answers 100-continue itself); nor do HTTP/2 pseudo-headers of the other hop or any field that
 * names ccmesh internals (`ccmesh-*`, `x-ccmesh-*`): an app can't speak to the mesh through headers.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te', 'host', 'expect']);

/** Whether `name` (lowercase) is a ccmesh-internal field, which never crosses the sidecar in either direction. */
export function isInternalHeader(name: string): boolean {
  return name.startsWith('ccmesh-') || name.startsWith('x-ccmesh-');
}

/** The lowercase field names the `Connection` header of `h` lists (they are hop-by-hop too). */
function connectionNamed(h: IncomingHttpHeaders): Set<string> {
  const v = h.connection;
  const text = Array.isArray(v) ? v.join(',') : (v ?? '');
  return new Set(text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
}

/**
 * The end-to-end fields of `h` (from either an HTTP/1.1 parser or an HTTP/2 stream): every field but the hop-by-hop
 * ones, pseudo-headers, ccmesh-internal fields and `Host` (the caller sets the authority). `TE: trailers` is kept.
 */
export function endToEnd(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionNamed(h);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':')) continue;
    const name = k.toLowerCase();
    if (HOP_BY_HOP.has(name) || name.startsWith('proxy-') || named.has(name) || isInternalHeader(name)) continue;
    out[name] = v;
  }
  const te = h.te;
  if (typeof te === 'string' && te.split(',').some((s) => s.trim().toLowerCase() === 'trailers')) out.te = 'trailers';
  return out;
}

/** Trailer fields that may cross: {@link endToEnd} without `te`, and never framing fields. */
export function endToEndTrailers(h: IncomingHttpHeaders | undefined): OutgoingHttpHeaders {
  if (h === undefined) return {};
  const out = endToEnd(h);
  delete out.te;
  delete out['content-length'];
  return out;
}

/**
 * Why a request's framing fields make it unsafe to forward, or undefined. SECURITY (request smuggling): a request with
 * both `Content-Length` and `Transfer-Encoding`, or a `Content-Length` that is not one decimal number (repeated
 * values must agree), is refused with 400 — two hops could read different bodies from it.
 */
export function framingProblem(h: IncomingHttpHeaders): string | undefined {
  const cl = h['content-length'];
  if (cl !== undefined && h['transfer-encoding'] !== undefined) return 'both Content-Length and Transfer-Encoding';
  if (cl === undefined) return undefined;
  const values = String(cl).split(',').map((s) => s.trim());
  if (!values.every((v) => /^\d{1,15}$/.test(v)) || new Set(values).size !== 1) return 'a malformed Content-Length';
  return undefined;
}

/** The status class label of `status`: 1xx … 5xx. */
export function statusClass(status: number): '1xx' | '2xx' | '3xx' | '4xx' | '5xx' {
  if (status < 200) return '1xx';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}
