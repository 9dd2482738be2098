/**
 * The inbound end of the tunnel: an mTLS connection that negotiated {@link TUNNEL_ALPN} and passed the listener's
 * identity gate (`inbound/accept.ts`, the same `checkClientIdentity` as every per-connection handshake) becomes an
 * HTTP/2 server session; each CONNECT stream on it is one application connection, forwarded to 127.0.0.1:appPort.
 *
 * SECURITY: the pooled connection's identity is the verified peer leaf of its own handshake (never a resumed session:
 * the tunnel client does not resume). Every stream is checked again before the app is dialled: the CONNECT port must
 * have an mTLS route, the leaf must still be valid and (after any credential change) verify against the current
 * bundle, and it must carry a SAN on that port's allow-list — a peer allowed on port A and not on B is refused on B
 * over the very connection it uses for A. When the credentials change, every session is re-checked: one whose peer no
 * longer verifies under the new trust is destroyed at once; the others were made with our old leaf and drain (GOAWAY:
 * no new streams, the open ones may finish for `drainMs`, then they are cut).
 */
import type { X509Certificate } from 'node:crypto';
import { constants as h2, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { TunnelConfig } from '../config.js';
import type { CredentialGeneration } from '../credentials/generation.js';
import type { CredentialStore } from '../credentials/store.js';
import type { InboundRoute } from '../inbound/accept.js';
import { sansAllowed, verifyLeaf } from '../inbound/identity.js';
import { endConnection, type PeerMetrics, type PortMetrics, type ProxyMetrics, type TunnelClose, type TunnelRefusal } from '../metrics.js';
import { ignoreSocketError } from '../transport/listen.js';
import { HIGH_WATER_MARK } from '../transport/options.js';
import type { ConnectionTracker } from '../transport/tracker.js';
import { CONNECTION_WINDOW, MAX_SESSION_MEMORY_MB, readHttpRequest, readTunnelRequest, tunnelSettings } from './protocol.js';
import { framingProblem } from '../http/headers.js';
import { AppClients } from '../http/to-app.js';
import { bindHttpMetrics, type HttpMetrics } from '../metrics.js';
import { spliceStream } from './stream-splice.js';

/** The `--max-connections` budget of one listener, which its TCP connections and tunnel streams share. */
export interface TunnelSlots {
  /** Takes a slot for one stream; false when the listener is full. */
  take(): boolean;
  /** Gives back a slot {@link take} gave. */
  release(): void;
}

/**
 * A route a stream may take, with the metrics of its port (labelled as a per-connection client's would be) and the
 * connection budget of the listener that serves that port.
 */
export interface TunnelRoute {
  readonly route: InboundRoute;
  readonly metrics: PortMetrics;
  readonly slots: TunnelSlots;
}

/** Looks up the route of a CONNECT port; registered by each mTLS listener. */
export type TunnelRouteLookup = (port: number) => TunnelRoute | undefined;

/** Live handles of the tunnel server. */
export interface TunnelServerRuntime {
  readonly store: CredentialStore;
  readonly metrics: ProxyMetrics;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** What is known of one pooled server connection. */
interface PeerState {
  readonly peer: X509Certificate;
  /** The `peer` label of its streams, read once from the verified leaf. */
  readonly peerLabel: string;
  readonly notAfterMs: number;
  /** The credential generation the peer leaf was last verified under. */
  verifiedGeneration: number;
  draining: boolean;
  drainTimer: NodeJS.Timeout | undefined;
}

/** The inbound tunnel of one process, shared by its mTLS listeners. */
export class TunnelServer {
  readonly #cfg: TunnelConfig;
  readonly #idleTimeoutMs: number;
  readonly #rt: TunnelServerRuntime;
  readonly #h2: Http2Server;
  readonly #lookups: TunnelRouteLookup[] = [];
  readonly #sessions = new Map<ServerHttp2Session, PeerState>();
  #pending: PeerState | undefined;
  readonly #apps: AppClients;
  readonly #http = new Map<string, HttpMetrics>();

  constructor(cfg: TunnelConfig, idleTimeoutMs: number, rt: TunnelServerRuntime) {
    this.#cfg = cfg;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#rt = rt;
    this.#apps = new AppClients(idleTimeoutMs);
    // Never listens: TLS sockets that negotiated the tunnel are handed to it as 'connection's.
    this.#h2 = createH2Server({ settings: tunnelSettings(cfg.maxStreams), maxSessionMemory: MAX_SESSION_MEMORY_MB, peerMaxConcurrentStreams: cfg.maxStreams });
    this.#h2.on('session', (session: ServerHttp2Session) => this.#onSession(session));
    this.#h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#onStream(stream, headers));
    rt.store.onGeneration((g) => this.#onGeneration(g));
  }

  /** Registers the routes of one mTLS listener. */
  addRoutes(lookup: TunnelRouteLookup): void {
    this.#lookups.push(lookup);
  }

  /** Pooled server connections now. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Serves a TLS socket that negotiated the tunnel. The caller ran the identity gate on it; `peer` is its verified
   * leaf. The socket is already tracked (drain) and its admission released.
   */
  serve(socket: TLSSocket, peer: X509Certificate): void {
    // The peer's FIN ends the whole pooled connection (see pool.ts).
    socket.allowHalfOpen = false;
    // SECURITY (cardinality): `peer` passed the listener's identity gate; its label is read once per connection.
    this.#pending = { peer, peerLabel: this.#rt.metrics.traffic.peers.of(peer), notAfterMs: Date.parse(peer.validTo), verifiedGeneration: this.#rt.store.generationNumber, draining: false, drainTimer: undefined };
    try {
      this.#h2.emit('connection', socket);
    } finally {
      this.#pending = undefined;
    }
  }

  /** SIGTERM: every session stops taking streams (GOAWAY); open streams finish within the drain of the tracker. */
  close(): void {
    for (const [session, st] of this.#sessions) this.#retire(session, st, undefined);
    void this.#apps.close();
  }

  #onSession(session: ServerHttp2Session): void {
    const st = this.#pending;
    if (st === undefined) {
      // SECURITY: only serve() creates sessions; anything else has no verified identity.
      session.destroy();
      return;
    }
    this.#sessions.set(session, st);
    this.#rt.metrics.tunnelConnections.labels('inbound', 'active').inc();
    session.on('error', ignoreSocketError);
    session.setTimeout(this.#idleTimeoutMs, () => session.close());
    session.once('close', () => {
      this.#sessions.delete(session);
      if (st.drainTimer) clearTimeout(st.drainTimer);
      this.#rt.metrics.tunnelConnections.labels('inbound', st.draining ? 'draining' : 'active').dec();
    });
    session.once('localSettings', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW);
    });
  }

  #refuse(stream: ServerHttp2Stream, reason: TunnelRefusal, status: number, metrics: PortMetrics | undefined, peer: PeerMetrics | undefined = metrics): void {
    this.#rt.metrics.tunnelRefusals.labels(reason).inc();
    this.#rt.metrics.tunnelStreams.labels('inbound', 'refused').inc();
    if (metrics !== undefined && peer !== undefined) {
      if (reason === 'san-not-allowed') metrics.failure['san-not-allowed'].inc();
      else if (reason === 'identity-expired') metrics.failure['cert-expired'].inc();
      else if (reason === 'too-many-connections') metrics.failure['too-many-connections'].inc();
      peer.result[reason === 'app-connect' ? 'upstream-error' : 'refused'].inc();
    }
    if (stream.destroyed || stream.session === undefined || stream.session.destroyed) return;
    if (!stream.headersSent) stream.respond({ ':status': status }, { endStream: true });
    stream.close(h2.NGHTTP2_REFUSED_STREAM);
  }

  /** Why `st`'s peer may not open a stream now, or undefined. */
  #identityProblem(session: ServerHttp2Session, st: PeerState): TunnelRefusal | undefined {
    const now = this.#rt.clock.nowMs();
    if (now >= st.notAfterMs) {
      this.#closeSession(session, st, 'expired');
      return 'identity-expired';
    }
    const gen = this.#rt.store.generationNumber;
    if (st.verifiedGeneration !== gen) {
      // SECURITY: the trust changed since the peer was verified; its leaf must verify under the current bundle.
      if (verifyLeaf(st.peer, this.#rt.store.current.bundle, now) !== undefined) {
        this.#closeSession(session, st, 'untrusted');
        return 'identity-expired';
      }
      st.verifiedGeneration = gen;
    }
    return undefined;
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const startedAt = performance.now();
    stream.on('error', ignoreSocketError);
    const session = stream.session as ServerHttp2Session | undefined;
    const st = session === undefined ? undefined : this.#sessions.get(session);
    if (session === undefined || st === undefined) {
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (headers[':method'] !== 'CONNECT') return this.#onHttp(stream, headers, session, st, startedAt);
    const request = readTunnelRequest(headers);
    if (!request.ok) return this.#refuse(stream, 'bad-request', 400, undefined);
    const port = request.port;
    const found = this.#lookup(port);
    // SECURITY: only mTLS routes are reachable through the tunnel (a `tls` port's listener never offers it either).
    if (found === undefined || !found.route.mtls) return this.#refuse(stream, 'port-not-served', 403, undefined);
    const { route, metrics } = found;
    const problem = this.#identityProblem(session, st);
    if (problem !== undefined) return this.#refuse(stream, problem, 403, metrics);
    // SECURITY: the port's allow-list against the pooled connection's verified leaf, on every stream.
    if (route.allow !== undefined && !sansAllowed(st.peer.subjectAltName ?? '', route.allow)) return this.#refuse(stream, 'san-not-allowed', 403, metrics);
    // SECURITY: each stream is an app connection of the listener: it takes one of its --max-connections slots.
    if (!found.slots.take()) return this.#refuse(stream, 'too-many-connections', 503, metrics);
    this.#forward(stream, route.appPort, metrics, metrics.peer(st.peerLabel), startedAt, found.slots);
  }

  #lookup(port: number): TunnelRoute | undefined {
    for (const lookup of this.#lookups) {
      const found = lookup(port);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * An L7 request (docs/proxy.md, "L7 HTTP"). SECURITY: the same checks as a CONNECT stream — an mTLS route, the
   * pooled connection's identity still valid, its SAN on the port's allow-list, a --max-connections slot — and on top:
   * the port must be declared `+http`/`+h2c` (an L4 port never sees a parsed request), and the request's framing must
   * be unambiguous (smuggling: 400).
   */
  #onHttp(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, session: ServerHttp2Session, st: PeerState, startedAt: number): void {
    const request = readHttpRequest(headers);
    if (!request.ok) return this.#refuse(stream, 'bad-request', 400, undefined);
    const target = this.#lookup(request.port);
    if (target === undefined || !target.route.mtls) return this.#refuse(stream, 'port-not-served', 403, undefined);
    const { route, metrics } = target;
    // SECURITY: only ports whose ingress entry says +http/+h2c take L7 requests.
    if (route.protocol === undefined) return this.#refuse(stream, 'not-http-port', 403, metrics);
    const stale = this.#identityProblem(session, st);
    if (stale !== undefined) return this.#refuse(stream, stale, 403, metrics);
    // SECURITY: the port's allow-list against the pooled connection's verified leaf, on every request.
    const sans = st.peer.subjectAltName ?? '';
    if (route.allow !== undefined && !sansAllowed(sans, route.allow)) return this.#refuse(stream, 'san-not-allowed', 403, metrics);
    // SECURITY (request smuggling): ambiguous framing is refused before anything reaches the app.
    if (framingProblem(headers) !== undefined) return this.#refuse(stream, 'bad-request', 400, metrics);
    if (!target.slots.take()) return this.#refuse(stream, 'too-many-connections', 503, metrics);
    let http = this.#http.get(metrics.port);
    if (http === undefined) {
      http = bindHttpMetrics(this.#rt.metrics, 'inbound', metrics.port);
      this.#http.set(metrics.port, http);
    }
    const httpMetrics = http;
    const peer = metrics.peer(st.peerLabel);
    this.#apps.forward(stream, { appPort: route.appPort, protocol: route.protocol, method: request.method, path: request.path, headers, peer: sans }, (cls) => {
      target.slots.release();
      httpMetrics.end(cls, startedAt);
      peer.result[cls === 'cancelled' ? 'error' : cls === '5xx' ? 'upstream-error' : 'ok'].inc();
    });
  }

  #forward(stream: ServerHttp2Stream, appPort: number, metrics: PortMetrics, peer: PeerMetrics, startedAt: number, slots: TunnelSlots): void {
    const opts: NetConnectOpts & { highWaterMark: number } = { host: '127.0.0.1', port: appPort, allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK };
    const app: Socket = connect(opts);
    app.on('error', ignoreSocketError);
    // The slot is the app connection's: it is free again once that socket closed, however the stream ended.
    app.once('close', () => slots.release());
    this.#rt.tracker.add(app);
    const m = this.#rt.metrics;
    let connected = false;
    const abort = (): void => {
      if (!connected) app.destroy();
    };
    stream.once('close', abort);
    app.once('close', () => {
      if (!connected) this.#refuse(stream, 'app-connect', 502, metrics, peer);
    });
    app.once('connect', () => {
      connected = true;
      stream.off('close', abort);
      if (stream.destroyed) {
        app.resetAndDestroy();
        return;
      }
      stream.respond({ ':status': 200 });
      metrics.open.inc();
      m.tunnelStreamsOpen.labels('inbound').inc();
      const counted = { port: metrics, peer, startedAt };
      spliceStream(app, stream, this.#idleTimeoutMs, (failed) => {
        endConnection(counted, failed ? 'error' : 'ok');
        peer.received.inc(app.bytesWritten);
        peer.sent.inc(app.bytesRead);
        m.tunnelStreamsOpen.labels('inbound').dec();
        m.tunnelStreams.labels('inbound', failed ? 'error' : 'ok').inc();
      });
    });
  }

  #onGeneration(g: CredentialGeneration): void {
    const now = this.#rt.clock.nowMs();
    for (const [session, st] of this.#sessions) {
      // SECURITY: a peer the new trust does not accept loses its pooled connection now, streams and all.
      if (verifyLeaf(st.peer, g.bundle, now) !== undefined) this.#closeSession(session, st, 'untrusted');
      else this.#retire(session, st, 'rotated');
    }
  }

  /** Destroys a session at once (its streams reset). */
  #closeSession(session: ServerHttp2Session, st: PeerState, reason: TunnelClose): void {
    if (session.destroyed) return;
    this.#rt.metrics.tunnelCloses.labels('inbound', reason).inc();
    this.#rt.logger.info('tunnel connection closed', { reason, peer: st.peer.subjectAltName });
    session.destroy();
  }

  /** No new streams; the open ones may finish for the drain grace. */
  #retire(session: ServerHttp2Session, st: PeerState, reason: TunnelClose | undefined): void {
    if (st.draining || session.destroyed) return;
    st.draining = true;
    this.#rt.metrics.tunnelConnections.labels('inbound', 'active').dec();
    this.#rt.metrics.tunnelConnections.labels('inbound', 'draining').inc();
    if (reason !== undefined) this.#rt.metrics.tunnelCloses.labels('inbound', reason).inc();
    session.close();
    st.drainTimer = setTimeout(() => {
      if (session.destroyed) return;
      this.#rt.metrics.tunnelCloses.labels('inbound', 'drain-timeout').inc();
      session.destroy();
    }, this.#cfg.drainMs);
    st.drainTimer.unref();
  }
}
