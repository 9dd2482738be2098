/**
 * The outbound end of the L7 path (docs/proxy.md, "L7 HTTP"): an egress listener whose entry says `#http` parses the
 * app's HTTP — HTTP/1.1 (node:http), or HTTP/2 with prior knowledge when the first 24 bytes are the HTTP/2 preface
 * (node:http2) — and sends each request as one HTTP/2 request stream on a pooled tunnel connection
 * (`tunnel/pool.ts` `acquire`: the same connections, identity checks and limits as CONNECT streams), with
 * `:authority 127.0.0.1:<remote port>`. The app's `Host` travels as `host`; hop-by-hop fields stay on their hop
 * (`headers.ts`), so an app's `Connection: close` ends only its own connection, never a pooled one.
 *
 * A client that does not speak HTTP gets `400` and a close from the HTTP/1.1 parser. An `Upgrade` request (WebSocket)
 * leaves the parser: its head is written back in front of the socket's remaining bytes, and the connection is carried
 * as an ordinary CONNECT stream (L4) from there on.
 */
import { createServer as createH1Server, type IncomingMessage, type OutgoingHttpHeaders, type Server as H1Server, type ServerResponse } from 'node:http';
import { constants as h2, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import { endConnection, bindHttpMetrics, type HttpCodeClass, type HttpMetrics } from '../metrics.js';
import { outboundConnection, type UpstreamContext, type UpstreamTarget } from '../outbound/upstream.js';
import type { TunnelLease, TunnelPool } from '../tunnel/pool.js';
import { hasControlOrSpace, tunnelAuthority } from '../tunnel/protocol.js';
import { ignoreSocketError } from '../transport/listen.js';
import { endToEnd, endToEndTrailers, framingProblem, statusClass } from './headers.js';
import { finalStatus, relayH2, respondError, sendTrailersSafely } from './to-app.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** The L7 side of one egress listener, built once at startup. */
export class HttpEgress {
  readonly #ctx: UpstreamContext;
  readonly #pool: TunnelPool;
  readonly #target: UpstreamTarget;
  readonly #h1: H1Server;
  readonly #h2: Http2Server;
  readonly #metrics: HttpMetrics;

  constructor(ctx: UpstreamContext, pool: TunnelPool, target: UpstreamTarget) {
    this.#ctx = ctx;
    this.#pool = pool;
    this.#target = target;
    this.#metrics = bindHttpMetrics(ctx.rt.metrics, 'outbound', ctx.metrics.port);
    // Never listen: the listener's accepted sockets are handed over. Timeouts: the data path's idle timeout.
    this.#h1 = createH1Server({ requestTimeout: 0, headersTimeout: ctx.options.handshakeTimeoutMs, keepAliveTimeout: ctx.options.idleTimeoutMs });
    this.#h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onH1(req, res));
    this.#h1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#h1.on('clientError', (_err: Error, socket: Socket) => {
      // Not HTTP, or malformed (smuggling attempts the parser refuses among them): a clean 400 and a close.
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroySoon();
    });
    this.#h2 = createH2Server();
    this.#h2.on('session', (s) => {
      s.on('error', ignoreSocketError);
      s.setTimeout(ctx.options.idleTimeoutMs, () => s.close());
    });
    this.#h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#onH2(stream, headers));
  }

  /** Serves one accepted app socket (tracked and counted open by the caller). */
  serve(app: Socket): void {
    // The pooled connection is there (or was just made): from here the app's connection is counted on its own.
    const counted = outboundConnection(this.#ctx.metrics, app, undefined);
    let upgraded = false;
    upgradedSockets.set(app, () => {
      upgraded = true;
    });
    app.once('close', () => {
      if (!upgraded) endConnection(counted, 'ok');
    });
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const mayBeH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (mayBeH2 && seen.length < PREFACE.length) return;
      app.off('data', onData);
      app.pause();
      if (mayBeH2) {
        // node:http2 reads the socket's handle itself and would miss bytes put back with unshift: it gets a stream
        // that replays them first.
        this.#h2.emit('connection', replay(app, seen));
        return;
      }
      app.unshift(seen);
      this.#h1.emit('connection', app);
      app.resume();
    };
    app.on('data', onData);
  }

  #acquire(cb: (lease: TunnelLease | undefined) => void): void {
    this.#pool.acquire(this.#ctx, this.#target, cb);
  }

  #requestHeaders(method: string, path: string, headers: IncomingHttpHeaders, host: string | undefined): OutgoingHttpHeaders {
    return {
      ...endToEnd(headers),
      ...(host === undefined ? {} : { host }),
      ':method': method,
      ':path': path,
      ':scheme': 'http',
      ':authority': tunnelAuthority(this.#target.port),
    };
  }

  #onH1(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    let cls: HttpCodeClass = 'cancelled';
    res.once('close', () => this.#metrics.end(res.writableFinished ? cls : 'cancelled', startedAt));
    const answer = (status: number): void => {
      cls = statusClass(status);
      res.writeHead(status, { 'content-length': '0', connection: 'close' });
      res.end();
    };
    const path = originForm(req.url ?? '');
    // SECURITY (request smuggling): node's parser refuses most ambiguous framing itself; what it lets through stops here.
    if (path === undefined || framingProblem(req.headers) !== undefined) return answer(400);
    const noBody = req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0');
    this.#acquire((lease) => {
      if (res.destroyed) return;
      if (lease === undefined) return answer(502);
      let h;
      try {
        h = lease.session.request(this.#requestHeaders(req.method ?? 'GET', path, req.headers, req.headers.host), { endStream: noBody, waitForTrailers: !noBody });
      } catch {
        return answer(502);
      }
      lease.track(h);
      h.on('error', ignoreSocketError);
      if (!noBody) {
        h.once('wantTrailers', () => sendTrailersSafely(h, endToEndTrailers(req.trailers)));
        req.pipe(h);
      } else {
        req.resume();
      }
      let trailers: OutgoingHttpHeaders = {};
      h.on('trailers', (t: IncomingHttpHeaders) => {
        trailers = endToEndTrailers(t);
      });
      h.once('response', (headers: IncomingHttpHeaders) => {
        if (res.destroyed) return;
        const status = finalStatus(headers);
        // SECURITY (availability): the peer's head is relayed only with a status HTTP can send (nghttp2 passes any three
        // digits, 000 among them; writeHead would throw out of this listener and end the process).
        if (status === undefined) {
          h.close(h2.NGHTTP2_PROTOCOL_ERROR);
          return answer(502);
        }
        cls = statusClass(status);
        res.writeHead(status, flatten(endToEnd(headers)));
        h.pipe(res, { end: false });
        h.once('end', () => {
          if (Object.keys(trailers).length > 0) res.addTrailers(flatten(trailers));
          res.end();
        });
      });
      h.once('close', () => {
        if (res.writableFinished) return;
        // The peer reset the request (or the pooled connection went): before a head, 502; after it, the app's
        // connection is cut so the client sees a truncated answer, never a complete-looking one.
        if (!res.headersSent) answer(h.rstCode === h2.NGHTTP2_REFUSED_STREAM ? 503 : 502);
        else res.destroy();
      });
      res.once('close', () => {
        // The app's client went away mid-exchange: the peer's request is cancelled (RST_STREAM).
        if (!res.writableFinished && !h.destroyed) h.close(h2.NGHTTP2_CANCEL);
      });
    });
  }

  #onH2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const startedAt = performance.now();
    stream.on('error', ignoreSocketError);
    let done = false;
    const finish = (cls: HttpCodeClass): void => {
      if (done) return;
      done = true;
      this.#metrics.end(cls, startedAt);
    };
    const method = headers[':method'];
    const path = headers[':path'];
    if (typeof method !== 'string' || method === 'CONNECT' || typeof path !== 'string' || originForm(path) === undefined || framingProblem(headers) !== undefined) {
      respondError(stream, method === 'CONNECT' ? 405 : 400);
      finish('4xx');
      return;
    }
    const noBody = stream.endAfterHeaders;
    const authority = headers[':authority'] ?? headers.host;
    this.#acquire((lease) => {
      if (stream.destroyed || stream.closed) return finish('cancelled');
      if (lease === undefined) {
        respondError(stream, 502);
        return finish('5xx');
      }
      let up;
      try {
        up = lease.session.request(this.#requestHeaders(method, path, headers, typeof authority === 'string' ? authority : undefined), { endStream: noBody, waitForTrailers: !noBody });
      } catch {
        respondError(stream, 502);
        return finish('5xx');
      }
      lease.track(up);
      up.on('error', ignoreSocketError);
      relayH2(stream, up, noBody, finish);
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = originForm(req.url ?? '');
    if (path === undefined) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // The request head as the app sent it (raw names and values), then whatever followed it: the peer's app parses it.
    let text = `${req.method ?? 'GET'} ${path} HTTP/${req.httpVersion}\r\n`;
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) text += `${req.rawHeaders[i]!}: ${req.rawHeaders[i + 1]!}\r\n`;
    socket.unshift(Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
    upgradedSockets.get(socket)?.();
    // From here the connection is an L4 one: a CONNECT stream, counted by the pool as any carried connection.
    this.#pool.carry(this.#ctx, socket, this.#target);
  }
}

/** A duplex over `app` whose readable side starts with `first` (bytes already read from it), with backpressure. */
function replay(app: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read: () => {
      app.resume();
    },
    write: (chunk: Buffer, _enc, cb) => {
      app.write(chunk, cb);
    },
    final: (cb) => {
      app.end();
      cb();
    },
    destroy: (err, cb) => {
      app.destroy();
      cb(err);
    },
  });
  d.push(first);
  app.on('data', (c: Buffer) => {
    if (!d.push(c)) app.pause();
  });
  app.once('end', () => d.push(null));
  app.once('close', () => d.destroy());
  return d;
}

/** Marks an app socket as handed to the L4 path after an Upgrade (its connection is counted there). */
const upgradedSockets = new WeakMap<Socket, () => void>();

/** The origin form (`/path?query`, or `*`) of a request target; absolute forms are reduced to it; undefined = bad. */
function originForm(url: string): string | undefined {
  if (hasControlOrSpace(url)) return undefined;
  if (url.startsWith('/') || url === '*') return url;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' ? `${u.pathname}${u.search}` : undefined;
  } catch {
    return undefined;
  }
}

function flatten(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v : String(v);
  return out;
}
