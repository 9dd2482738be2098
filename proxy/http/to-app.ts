/**
 * The inbound end of the L7 path: an HTTP/2 request a peer sidecar sent over a pooled tunnel connection (checked by
 * `tunnel/server.ts`: identity, port, allow-list, framing) is sent to the app on 127.0.0.1:appPort — as HTTP/1.1 over
 * an undici Pool (`+http` ports), or as HTTP/2 with prior knowledge over one node:http2 session per port (`+h2c`:
 * gRPC servers speak only h2). The response streams back with its trailers; a reset on either side cancels the other.
 *
 * SECURITY: the destination is always 127.0.0.1 and the route's own app port, whatever the request's `Host` says; the
 * request's fields pass {@link endToEnd} (hop-by-hop and ccmesh-internal fields never reach the app).
 */
import { connect as h2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import { connect as netConnect } from 'node:net';
import { PassThrough } from 'node:stream';
import type * as Undici from 'undici';
import type { AppProtocol } from '../../lib/mesh-config/ingress.js';
import { ignoreSocketError } from '../transport/listen.js';
import { endToEnd, endToEndTrailers, statusClass } from './headers.js';
import type { HttpCodeClass } from '../metrics.js';

/**
 * undici, loaded on the first L7 request to an HTTP/1.1 app: it adds ~15 MB to a sidecar's RSS, and most sidecars
 * have no `+http` port (docs/proxy.md, "Sidecar cost").
 */
let undici: typeof Undici | undefined;

/** One checked L7 request: where it goes and what it asks. */
export interface AppRequest {
  readonly appPort: number;
  readonly protocol: AppProtocol;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The verified identity (SAN text) of the peer that sent it. SECURITY: HTTP/1.1 app connections are kept per peer
   * identity, never shared: through an app that does not read some bodies, a request smuggled in a body would
   * otherwise be answered to another peer's request on the same keep-alive connection (response-queue poisoning).
   */
  readonly peer: string;
}

/** The app-side clients of one process, one per app port and protocol, made on first use. */
export class AppClients {
  readonly #idleTimeoutMs: number;
  /** HTTP/1.1 pools by app port and peer identity (see {@link AppRequest.peer}). */
  readonly #pools = new Map<string, Undici.Pool>();
  readonly #sessions = new Map<number, ClientHttp2Session>();

  constructor(idleTimeoutMs: number) {
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  /** Sends `req` to the app and streams the answer into `stream`; `done` is called once with the outcome. */
  forward(stream: ServerHttp2Stream, req: AppRequest, done: (cls: HttpCodeClass) => void): void {
    let finished = false;
    const finish = (cls: HttpCodeClass): void => {
      if (finished) return;
      finished = true;
      done(cls);
    };
    stream.setTimeout(this.#idleTimeoutMs, () => stream.close(h2.NGHTTP2_CANCEL));
    if (req.protocol === 'h2c') this.#h2c(stream, req, finish);
    else this.#h1(stream, req, finish);
  }

  /** Closes every app client (drain). */
  async close(): Promise<void> {
    for (const s of this.#sessions.values()) s.close();
    await Promise.all([...this.#pools.values()].map((p) => p.close().catch(() => undefined)));
  }

  #h1(stream: ServerHttp2Stream, req: AppRequest, finish: (cls: HttpCodeClass) => void): void {
    if (undici === undefined) {
      import('undici').then((m) => {
        undici ??= m;
        if (stream.destroyed || stream.closed) return finish('cancelled');
        this.#h1(stream, req, finish);
      }, () => {
        respondError(stream, 502);
        finish('5xx');
      });
      return;
    }
    // SECURITY: one pool per (app port, peer identity): a peer's requests never share an app connection with another's.
    const key = `${req.appPort}\0${req.peer}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new undici.Pool(`http://127.0.0.1:${req.appPort}`, { headersTimeout: this.#idleTimeoutMs, bodyTimeout: this.#idleTimeoutMs, connections: 256 });
      this.#pools.set(key, pool);
    }
    const ac = new AbortController();
    let cls: HttpCodeClass = 'cancelled';
    // The app's answer was read to its end (or the request failed): nothing is left to abort. Aborting a finished
    // request would cost a DOMException (with its stack) per request and could cut the pooled app connection.
    let settled = false;
    stream.once('close', () => {
      // The peer cancelled (or the stream ended): an unfinished app request is aborted with it.
      if (!settled) ac.abort();
      const clean = stream.rstCode === undefined || stream.rstCode === h2.NGHTTP2_NO_ERROR;
      finish(clean ? cls : 'cancelled');
    });
    const headers = flatten({ ...endToEnd(req.headers), host: authorityOf(req) });
    // undici destroys a body it has read; the request body is a PassThrough so that never ends the response's stream.
    const body = stream.endAfterHeaders ? null : stream.pipe(new PassThrough());
    pool.request({ method: req.method as 'GET', path: req.path, headers, body, signal: ac.signal }).then((res) => {
      if (stream.destroyed || stream.closed) {
        res.body.destroy();
        return;
      }
      const out: OutgoingHttpHeaders = { ...endToEnd(res.headers as IncomingHttpHeaders), ':status': res.statusCode };
      // SECURITY (availability): an HTTP/1.1 answer HTTP/2 cannot carry (a single-value field twice, e.g. two
      // Content-Type) makes respond() throw; uncaught in this callback it would be an unhandled rejection, which ends
      // the sidecar process. That one request gets 502 instead.
      if (!respondSafely(stream, out)) {
        res.body.destroy();
        cls = '5xx';
        respondError(stream, 502);
        return;
      }
      stream.once('wantTrailers', () => sendTrailersSafely(stream, endToEndTrailers(res.trailers as IncomingHttpHeaders)));
      cls = statusClass(res.statusCode);
      // pipe, not pipeline: pipeline makes an AbortController per call and aborts it (a DOMException) at every end.
      res.body.once('end', () => {
        settled = true;
      });
      res.body.once('error', () => {
        // The app's connection broke mid-body: the peer sees a reset, never a complete-looking answer.
        settled = true;
        cls = 'cancelled';
        if (!stream.destroyed) stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      });
      res.body.pipe(stream);
    }, () => {
      settled = true;
      if (stream.destroyed || stream.closed) return;
      cls = '5xx';
      respondError(stream, 502);
    });
  }

  #session(port: number): ClientHttp2Session {
    const live = this.#sessions.get(port);
    if (live !== undefined && !live.closed && !live.destroyed) return live;
    // TCP_NODELAY as on every other app connection: node:http2's own connect leaves Nagle on, which holds small frames
    // back until the app's delayed ACK (tens of ms per exchange under concurrency).
    const s = h2Connect(`http://127.0.0.1:${port}`, { createConnection: () => netConnect({ host: '127.0.0.1', port, noDelay: true }) });
    s.on('error', ignoreSocketError);
    s.once('close', () => {
      if (this.#sessions.get(port) === s) this.#sessions.delete(port);
    });
    s.once('goaway', () => {
      if (this.#sessions.get(port) === s) this.#sessions.delete(port);
    });
    this.#sessions.set(port, s);
    return s;
  }

  #h2c(stream: ServerHttp2Stream, req: AppRequest, finish: (cls: HttpCodeClass) => void): void {
    let up: ClientHttp2Stream;
    const noBody = stream.endAfterHeaders;
    try {
      up = this.#session(req.appPort).request(
        { ...endToEnd(req.headers), ':method': req.method, ':path': req.path, ':scheme': 'http', ':authority': authorityOf(req) },
        { endStream: noBody, waitForTrailers: !noBody },
      );
    } catch {
      respondError(stream, 502);
      finish('5xx');
      return;
    }
    up.on('error', ignoreSocketError);
    relayH2(stream, up, noBody, finish);
  }
}

/**
 * Relays one HTTP/2 exchange between `down` (the side that asked) and `up` (the side that answers): request body and
 * trailers down → up, response head, body and trailers up → down, and a reset of either to the other. Used by both
 * ends of the L7 path wherever both legs are HTTP/2.
 */
export function relayH2(down: ServerHttp2Stream, up: ClientHttp2Stream, noBody: boolean, finish: (cls: HttpCodeClass) => void): void {
  let reqTrailers: OutgoingHttpHeaders = {};
  let resTrailers: OutgoingHttpHeaders = {};
  let cls: HttpCodeClass = 'cancelled';
  down.on('trailers', (t: IncomingHttpHeaders) => {
    reqTrailers = endToEndTrailers(t);
  });
  if (!noBody) {
    up.once('wantTrailers', () => sendTrailersSafely(up, reqTrailers));
    down.pipe(up);
  }
  up.once('response', (headers: IncomingHttpHeaders, flags: number) => {
    if (down.destroyed) return;
    const status = finalStatus(headers);
    // SECURITY (availability): a head node:http2 would refuse to send (a status outside 200–599: nghttp2 passes any
    // three digits) is a 502, never a throw out of this listener (an uncaught exception ends the process).
    if (status === undefined) {
      if (!up.destroyed) up.close(h2.NGHTTP2_PROTOCOL_ERROR);
      respondError(down, 502);
      finish('5xx');
      return;
    }
    cls = statusClass(status);
    const out: OutgoingHttpHeaders = { ...endToEnd(headers), ':status': status };
    // A trailers-only answer (gRPC errors: grpc-status in the head, END_STREAM) stays one HEADERS frame.
    if ((flags & h2.NGHTTP2_FLAG_END_STREAM) !== 0) {
      down.respond(out, { endStream: true });
      return;
    }
    down.respond(out, { waitForTrailers: true });
    down.once('wantTrailers', () => sendTrailersSafely(down, resTrailers));
    up.pipe(down);
  });
  up.on('trailers', (t: IncomingHttpHeaders) => {
    resTrailers = endToEndTrailers(t);
  });
  up.once('close', () => {
    if (up.rstCode !== undefined && up.rstCode !== h2.NGHTTP2_NO_ERROR) {
      // The answering side reset the request: so is the asking side's (before a head: 502).
      if (!down.headersSent) respondError(down, 502);
      else if (!down.destroyed) down.close(up.rstCode);
      finish(down.headersSent && cls !== 'cancelled' ? cls : 'cancelled');
      return;
    }
    if (!down.headersSent && !down.destroyed) {
      respondError(down, 502);
      finish('5xx');
    }
  });
  down.once('close', () => {
    if (!up.destroyed && !up.closed) up.close(h2.NGHTTP2_CANCEL);
    const clean = down.rstCode === undefined || down.rstCode === h2.NGHTTP2_NO_ERROR;
    finish(clean ? cls : 'cancelled');
  });
}

/**
 * The status of a final answer's head from the other hop when both HTTP/1.1 and HTTP/2 can send it on (200–599), else
 * undefined. nghttp2 accepts any three digits but 101 (000, 099 and 999 among them) and node:http2 hands them on.
 */
export function finalStatus(headers: IncomingHttpHeaders): number | undefined {
  const status = Number(headers[':status']);
  return Number.isInteger(status) && status >= 200 && status <= 599 ? status : undefined;
}

/** `stream.respond(head, waitForTrailers)`; false (nothing sent) when node:http2 refuses the head. */
function respondSafely(stream: ServerHttp2Stream, head: OutgoingHttpHeaders): boolean {
  try {
    stream.respond(head, { waitForTrailers: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends trailers that came from the other hop; trailers node:http2 refuses (a single-value field twice) reset the
 * stream instead of throwing out of the 'wantTrailers' listener (an uncaught exception ends the process).
 */
export function sendTrailersSafely(stream: ServerHttp2Stream | ClientHttp2Stream, trailers: OutgoingHttpHeaders): void {
  try {
    stream.sendTrailers(trailers);
  } catch {
    if (!stream.destroyed) stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  }
}

/** Answers `status` with no body, unless a head was sent already (then the stream is reset). */
export function respondError(stream: ServerHttp2Stream, status: number): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond({ ':status': status, 'content-length': '0' }, { endStream: true });
}

/** The `Host` the app sees: the client's original one (carried in `host`), else 127.0.0.1:PORT. */
function authorityOf(req: AppRequest): string {
  const h = req.headers.host;
  return typeof h === 'string' && h !== '' ? h : `127.0.0.1:${req.appPort}`;
}

function flatten(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v : String(v);
  return out;
}
