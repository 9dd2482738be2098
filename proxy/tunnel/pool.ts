/**
 * The outbound end of the tunnel: per destination (host, port, SNI) of one listener, up to `poolSize` long-lived mTLS
 * connections that negotiated {@link TUNNEL_ALPN}, each an HTTP/2 client session; every app connection becomes one
 * CONNECT stream on the least-loaded one. The identity check is the listener's (`ctx.check`), run on every pooled
 * connection's full handshake (the pool never resumes a session), so a stream is sent only to a server verified
 * exactly like a per-connection one.
 *
 * Fallbacks to per-connection mTLS (`outbound/upstream.ts`), counted in `ccmesh_proxy_tunnel_fallbacks_total`:
 * - the peer did not select the tunnel ALPN (an older sidecar, or one with `--tunnel off`): the handshake just made is
 *   an ordinary per-connection link and carries the first waiting app connection; for {@link NO_TUNNEL_RETRY_MS}
 *   the destination gets per-connection mTLS only. SECURITY: HTTP/2 is never spoken on a connection that did not
 *   negotiate the tunnel, and nothing of the tunnel is inferred from anything but the ALPN of a verified handshake
 *   (TLS authenticates the ALPN exchange with the rest of the handshake, so a host can't strip it without breaking
 *   the handshake);
 * - every pooled connection is at its stream limit and the pool is full.
 *
 * When the sidecar's credentials change, every pooled connection retires: no new streams, GOAWAY, the open streams may
 * finish for `drainMs`, then they are cut. New streams go over new connections made with the new credentials.
 */
import type { X509Certificate } from 'node:crypto';
import { connect as h2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TunnelConfig } from '../config.js';
import { endConnection, type TunnelClose } from '../metrics.js';
import { ignoreSocketError } from '../transport/listen.js';
import { connectPerConnection, dialUpstream, failUpstream, outboundConnection, spliceUpstream, type OutboundRuntime, type UpstreamContext, type UpstreamTarget } from '../outbound/upstream.js';
import { CONNECTION_WINDOW, MAX_SESSION_MEMORY_MB, TUNNEL_ALPN, tunnelAuthority, tunnelSettings } from './protocol.js';
import { spliceStream } from './stream-splice.js';

/** How long a destination that did not negotiate the tunnel gets per-connection mTLS before the tunnel is tried again. */
export const NO_TUNNEL_RETRY_MS = 60_000;

/** Destinations one pool keeps state for (the transparent outbound listener has one per original destination). */
export const MAX_DESTINATIONS = 1024;

/** One pooled connection. */
interface Pooled {
  readonly session: ClientHttp2Session;
  readonly tls: TLSSocket;
  /** Streams open on it now. */
  active: number;
  /** Streams sent that have neither a response nor a close yet: a retiring connection sends its GOAWAY only at 0. */
  awaiting: number;
  /** Streams it may carry at once: ours, or the server's SETTINGS_MAX_CONCURRENT_STREAMS when lower. */
  limit: number;
  /** The server leaf's notAfter: no stream is sent after it. */
  readonly notAfterMs: number;
  /** The `peer` label of its streams, read once from the verified server leaf. */
  readonly peerLabel: string;
  draining: boolean;
  drainTimer: NodeJS.Timeout | undefined;
  /** The last stream id of the peer's GOAWAY: streams above it were never processed. */
  goawayLastStreamId: number | undefined;
}

/**
 * Whether `h`, closed before any response, never reached the peer's app: refused (REFUSED_STREAM), above the last
 * stream id of the peer's GOAWAY, or on a pooled connection that is gone. The peer answers 200 only after its app
 * accepted the connection and we send nothing before that 200, so such a stream carried no app byte either way.
 */
function unprocessed(p: Pooled, h: ClientHttp2Stream): boolean {
  if (h.rstCode === h2.NGHTTP2_REFUSED_STREAM) return true;
  if (p.goawayLastStreamId !== undefined && (h.id === undefined || h.id > p.goawayLastStreamId)) return true;
  return p.session.destroyed;
}

/** The pool of one destination. */
interface Destination {
  readonly key: string;
  readonly sessions: Pooled[];
  connecting: boolean;
  /** App connections waiting for the connection being made. */
  readonly waiters: Socket[];
  /** L7 requests waiting for the connection being made (`acquire`): undefined = no pooled connection for them. */
  readonly requests: ((lease: TunnelLease | undefined) => void)[];
  noTunnelUntilMs: number;
}

/**
 * One L7 request's use of a pooled connection (`proxy/http/egress.ts`): its HTTP/2 session, the verified server's
 * `peer` label, and {@link TunnelLease.track}, which counts a request stream against the connection's stream limit.
 */
export interface TunnelLease {
  readonly session: ClientHttp2Session;
  readonly peerLabel: string;
  /** Counts `h` as open on the pooled connection until it closes. */
  track(h: ClientHttp2Stream): void;
}

function leaseOf(p: Pooled): TunnelLease {
  return {
    session: p.session,
    peerLabel: p.peerLabel,
    track: (h) => {
      p.active++;
      h.once('close', () => p.active--);
    },
  };
}

/** The tunnel connections of one outbound listener. */
export class TunnelPool {
  /** App connections of an L7 listener (`attach`): called instead of opening a CONNECT stream. */
  readonly #l7 = new WeakMap<Socket, (lease: TunnelLease) => void>();
  readonly #cfg: TunnelConfig;
  readonly #rt: OutboundRuntime;
  readonly #dests = new Map<string, Destination>();
  /** App connections whose stream was refused unprocessed once already: a second refusal resets them. */
  readonly #retried = new WeakSet<Socket>();

  constructor(cfg: TunnelConfig, rt: OutboundRuntime) {
    this.#cfg = cfg;
    this.#rt = rt;
    rt.store.onGeneration(() => {
      for (const d of this.#dests.values()) for (const p of d.sessions) this.#retire(p, 'rotated');
    });
  }

  /** Pooled connections now (active and draining). */
  get connections(): number {
    let n = 0;
    for (const d of this.#dests.values()) n += d.sessions.length;
    return n;
  }

  /** SIGTERM: every pooled connection stops taking streams; open ones finish within the tracker's drain. */
  close(): void {
    for (const d of this.#dests.values()) for (const p of d.sessions) this.#retire(p, undefined);
  }

  /** Carries `app` (tracked, counted open) to `target` over a tunnel stream, or per-connection when it can't. */
  carry(ctx: UpstreamContext, app: Socket, target: UpstreamTarget): void {
    const key = `${target.host}|${target.port}|${target.servername ?? ''}`;
    let d = this.#dests.get(key);
    if (d === undefined) {
      if (this.#dests.size >= MAX_DESTINATIONS) return this.#fallback(ctx, app, target, 'pool-full');
      d = { key, sessions: [], connecting: false, waiters: [], requests: [], noTunnelUntilMs: 0 };
      this.#dests.set(key, d);
    }
    this.#dispatch(ctx, d, app, target);
  }

  /**
   * The L7 path's connection-level choice for `app` (tracked, counted open): when the destination has (or gets) a
   * pooled connection, `onTunnel` is called and the caller parses the app's HTTP; otherwise `app` is carried exactly as
   * {@link carry} carries it — per-connection mTLS to a peer without the tunnel, the bytes unparsed.
   */
  attach(ctx: UpstreamContext, app: Socket, target: UpstreamTarget, onTunnel: (lease: TunnelLease) => void): void {
    this.#l7.set(app, onTunnel);
    this.carry(ctx, app, target);
  }

  /**
   * A pooled connection for one L7 request to `target`: one there is, or a new one when the pool may grow. Undefined
   * when the destination is in its no-tunnel period, the handshake failed, or the pool is full.
   */
  acquire(ctx: UpstreamContext, target: UpstreamTarget, cb: (lease: TunnelLease | undefined) => void): void {
    const key = `${target.host}|${target.port}|${target.servername ?? ''}`;
    let d = this.#dests.get(key);
    if (d === undefined) {
      if (this.#dests.size >= MAX_DESTINATIONS) return cb(undefined);
      d = { key, sessions: [], connecting: false, waiters: [], requests: [], noTunnelUntilMs: 0 };
      this.#dests.set(key, d);
    }
    this.#acquireIn(ctx, d, target, cb);
  }

  #acquireIn(ctx: UpstreamContext, d: Destination, target: UpstreamTarget, cb: (lease: TunnelLease | undefined) => void): void {
    if (Date.now() < d.noTunnelUntilMs) return cb(undefined);
    const p = this.#pick(d);
    if (p !== undefined) return cb(leaseOf(p));
    if (d.connecting) {
      if (d.requests.length >= this.#cfg.maxStreams) return cb(undefined);
      d.requests.push(cb);
      return;
    }
    if (d.sessions.filter((s) => !s.draining).length >= this.#cfg.poolSize) return cb(undefined);
    d.requests.push(cb);
    this.#connect(ctx, d, target);
  }

  #dispatch(ctx: UpstreamContext, d: Destination, app: Socket, target: UpstreamTarget): void {
    if (app.destroyed) {
      // The app left while it waited for a pooled connection.
      failUpstream(ctx.metrics, app, 'handshake-error');
      return;
    }
    if (Date.now() < d.noTunnelUntilMs) return this.#fallback(ctx, app, target, 'peer-without-tunnel');
    const p = this.#pick(d);
    if (p !== undefined) {
      const l7 = this.#l7.get(app);
      if (l7 !== undefined) {
        this.#l7.delete(app);
        return l7(leaseOf(p));
      }
      return this.#open(ctx, d, p, app, target);
    }
    const live = d.sessions.filter((s) => !s.draining).length;
    if (d.connecting) {
      if (d.waiters.length >= this.#cfg.maxStreams) return this.#fallback(ctx, app, target, 'pool-full');
      d.waiters.push(app);
      return;
    }
    if (live >= this.#cfg.poolSize) return this.#fallback(ctx, app, target, 'pool-full');
    d.waiters.push(app);
    this.#connect(ctx, d, target);
  }

  #fallback(ctx: UpstreamContext, app: Socket, target: UpstreamTarget, reason: 'pool-full' | 'peer-without-tunnel'): void {
    this.#rt.metrics.tunnelFallbacks.labels(reason).inc();
    connectPerConnection(ctx, app, target);
  }

  /** The least-loaded pooled connection that may take a stream now. */
  #pick(d: Destination): Pooled | undefined {
    const now = Date.now();
    let best: Pooled | undefined;
    for (const p of d.sessions) {
      if (p.draining || p.session.destroyed || p.session.closed) continue;
      if (now >= p.notAfterMs) {
        // SECURITY: the server's leaf expired since it was verified; no stream goes to it any more.
        this.#retire(p, 'expired');
        continue;
      }
      if (p.active < p.limit && (best === undefined || p.active < best.active)) best = p;
    }
    return best;
  }

  #connect(ctx: UpstreamContext, d: Destination, target: UpstreamTarget): void {
    d.connecting = true;
    const generation = this.#rt.store.generationNumber;
    // SECURITY: no session resumption on pooled connections; every one is a full handshake, verified by ctx.check.
    // A connection the peer answered without the tunnel becomes per-connection mTLS: the sessions it is then handed
    // (a verified full handshake's, as on the per-connection path) are kept for that path's next connections.
    let perConnection = false;
    const dialTarget: UpstreamTarget = {
      ...target,
      session: undefined,
      onSession: (session) => {
        if (perConnection) target.onSession(session);
      },
    };
    dialUpstream(ctx, dialTarget, [TUNNEL_ALPN], (reason) => {
      d.connecting = false;
      // Each waiting app connection fails as it would have on its own handshake.
      for (const app of d.waiters.splice(0)) failUpstream(ctx.metrics, app, reason);
      for (const cb of d.requests.splice(0)) cb(undefined);
    }, (tls, seconds, peer, leaf) => {
      d.connecting = false;
      ctx.metrics.handshake.observe(seconds);
      const waiters = d.waiters.splice(0);
      const requests = d.requests.splice(0);
      // SECURITY: only a handshake that selected the tunnel ALPN carries HTTP/2; anything else is per-connection mTLS.
      if (tls.alpnProtocol !== TUNNEL_ALPN) {
        perConnection = true;
        d.noTunnelUntilMs = Date.now() + NO_TUNNEL_RETRY_MS;
        // An L7 request already parsed can't become per-connection bytes: it is answered 502 by its caller.
        for (const cb of requests) cb(undefined);
        const first = waiters.findIndex((a) => !a.destroyed);
        if (first < 0) tls.destroy();
        for (const [i, app] of waiters.entries()) {
          if (i === first) {
            this.#rt.metrics.tunnelFallbacks.labels('peer-without-tunnel').inc();
            spliceUpstream(ctx, app, tls, 0, peer);
          } else {
            this.#dispatch(ctx, d, app, target);
          }
        }
        return;
      }
      const p = this.#adopt(d, tls, peer, leaf);
      for (const app of waiters) this.#dispatch(ctx, d, app, target);
      for (const cb of requests) this.#acquireIn(ctx, d, target, cb);
      // Made with credentials that were replaced while it handshook: it served the waiters, it takes no more.
      if (generation !== this.#rt.store.generationNumber) this.#retire(p, 'rotated');
    });
  }

  #adopt(d: Destination, tls: TLSSocket, peerLabel: string, peer: X509Certificate | undefined): Pooled {
    const cfg = this.#cfg;
    // The peer's FIN ends the whole pooled connection (HTTP/2 has no half-closed connection); with the data path's
    // allowHalfOpen the session would never notice a peer that went away.
    tls.allowHalfOpen = false;
    const session = h2Connect('http://ccmesh-tunnel', {
      createConnection: () => tls,
      settings: tunnelSettings(cfg.maxStreams),
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      peerMaxConcurrentStreams: cfg.maxStreams,
    });
    // `peer` is the verified leaf dialUpstream read (the socket gives it only once); none = no stream goes to it.
    const p: Pooled = { session, tls, active: 0, awaiting: 0, limit: cfg.maxStreams, notAfterMs: peer === undefined ? 0 : Date.parse(peer.validTo), peerLabel, draining: false, drainTimer: undefined, goawayLastStreamId: undefined };
    d.sessions.push(p);
    const gauge = this.#rt.metrics.tunnelConnections;
    gauge.labels('outbound', 'active').inc();
    session.on('error', ignoreSocketError);
    session.once('localSettings', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW);
    });
    session.on('remoteSettings', (s) => {
      p.limit = Math.min(cfg.maxStreams, s.maxConcurrentStreams ?? cfg.maxStreams);
    });
    // The server retires the connection (its credentials changed, or it drains): no new streams on it.
    session.once('goaway', (_code: number, lastStreamId: number) => {
      p.goawayLastStreamId = lastStreamId;
      this.#retire(p, undefined);
    });
    session.once('close', () => {
      if (p.drainTimer) clearTimeout(p.drainTimer);
      gauge.labels('outbound', p.draining ? 'draining' : 'active').dec();
      const i = d.sessions.indexOf(p);
      if (i >= 0) d.sessions.splice(i, 1);
      if (d.sessions.length === 0 && !d.connecting && d.waiters.length === 0 && d.requests.length === 0 && Date.now() >= d.noTunnelUntilMs) this.#dests.delete(d.key);
    });
    return p;
  }

  /**
   * Opens a CONNECT stream for `app` on `p`. The app's bytes stay where they are (its socket's bounded read buffer,
   * then the kernel's) until the peer answered 200: a stream the peer refused or never processed — REFUSED_STREAM,
   * above the last stream id of its GOAWAY, or on a pooled connection that closed before any response — carried
   * nothing and is sent once more over another (or a new) pooled connection. Any other failure before the response,
   * a second such refusal, or no response within the handshake timeout reset the app connection.
   */
  #open(ctx: UpstreamContext, d: Destination, p: Pooled, app: Socket, target: UpstreamTarget): void {
    let h: ClientHttp2Stream;
    try {
      h = p.session.request({ ':method': 'CONNECT', ':authority': tunnelAuthority(target.port) });
    } catch {
      // Out of stream ids, or closing under us: this connection takes no more streams; the app goes to another one.
      this.#retire(p, undefined);
      this.#dispatch(ctx, d, app, target);
      return;
    }
    p.active++;
    p.awaiting++;
    const m = this.#rt.metrics;
    const counted = outboundConnection(ctx.metrics, app, p.peerLabel);
    m.tunnelStreamsOpen.labels('outbound').inc();
    let settled = false;
    let timedOut = false;
    const end = (result: 'ok' | 'error' | 'refused' | 'retried'): void => {
      p.active--;
      m.tunnelStreamsOpen.labels('outbound').dec();
      m.tunnelStreams.labels('outbound', result).inc();
    };
    const onAppClose = (): void => {
      // The app left before the response: nothing to carry any more.
      if (!h.destroyed) h.close(h2.NGHTTP2_CANCEL);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      if (!h.destroyed) h.close(h2.NGHTTP2_CANCEL);
    }, ctx.options.handshakeTimeoutMs);
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      app.off('close', onAppClose);
      if (--p.awaiting === 0 && p.draining) this.#goaway(p);
    };
    h.on('error', ignoreSocketError);
    app.once('close', onAppClose);
    h.once('response', (headers: IncomingHttpHeaders) => {
      if (settled) return;
      settle();
      if (Number(headers[':status']) !== 200 || app.destroyed) {
        // Refused by the peer (port, identity, limit) or its app is unreachable: a reset for the app, as a refused
        // handshake is.
        const refused = !app.destroyed;
        if (!h.destroyed) h.close(h2.NGHTTP2_CANCEL);
        end(refused ? 'refused' : 'error');
        endConnection(counted, refused ? 'refused' : 'error');
        if (!app.destroyed) app.resetAndDestroy();
        return;
      }
      spliceStream(app, h, ctx.options.idleTimeoutMs, (failed) => {
        end(failed ? 'error' : 'ok');
        endConnection(counted, failed ? 'error' : 'ok');
        counted.peer.received.inc(app.bytesRead);
        counted.peer.sent.inc(app.bytesWritten);
      });
    });
    h.once('close', () => {
      if (settled) return;
      settle();
      if (!timedOut && !app.destroyed && !this.#retried.has(app) && unprocessed(p, h)) {
        // Nothing of the app reached the peer: one more try, on a connection that is not retiring.
        end('retried');
        this.#retried.add(app);
        this.#dispatch(ctx, d, app, target);
        return;
      }
      end('error');
      endConnection(counted, 'error');
      if (!app.destroyed) app.resetAndDestroy();
    });
  }

  /**
   * Closes a retiring `p` gracefully: Node sends our GOAWAY and ends the session once its streams closed. Only once no
   * stream of ours awaits its response: the peer answers our GOAWAY with its own (Node's server closes on a GOAWAY),
   * whose last stream id is the last stream it had received — and nghttp2 sends a GOAWAY ahead of queued HEADERS — so
   * streams still on their way would come back refused, and an app connection whose stream was already retried once
   * (its first pooled connection retired by the peer) would see a reset.
   */
  #goaway(p: Pooled): void {
    if (!p.session.closed && !p.session.destroyed) p.session.close();
  }

  /** No new streams on `p`; the open ones may finish for the drain grace, then they are cut. */
  #retire(p: Pooled, reason: TunnelClose | undefined): void {
    if (p.draining || p.session.destroyed) return;
    p.draining = true;
    const m = this.#rt.metrics;
    m.tunnelConnections.labels('outbound', 'active').dec();
    m.tunnelConnections.labels('outbound', 'draining').inc();
    if (reason !== undefined) m.tunnelCloses.labels('outbound', reason).inc();
    if (p.awaiting === 0) this.#goaway(p);
    p.drainTimer = setTimeout(() => {
      if (p.session.destroyed) return;
      m.tunnelCloses.labels('outbound', 'drain-timeout').inc();
      p.session.destroy(undefined, h2.NGHTTP2_CANCEL);
    }, this.#cfg.drainMs);
    p.drainTimer.unref();
  }
}
