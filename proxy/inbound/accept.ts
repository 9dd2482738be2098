/**
 * The inbound TLS server shared by every inbound listener: mTLS or server-auth TLS with the credentials of the
 * current generation, refusals classified and counted, admitted connections forwarded to the app. What differs
 * between listeners is only the {@link InboundRouter}: an explicit listener (`--no-iptables`) has one fixed route,
 * a transparent listener (15006/15007, `transparent.ts`) picks the route by the original destination port.
 *
 * A plain `net.Server` accepts; routing and handshake admission (`admission.ts`) run on the raw socket before any
 * TLS state exists, and only an admitted socket is handed to the `tls.Server`, which never listens itself.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { AppProtocol } from '../../lib/mesh-config/ingress.js';
import type { InboundListenerConfig } from '../config.js';
import { serverContext, type ServerRole } from '../credentials/generation.js';
import type { CredentialStore } from '../credentials/store.js';
import { classifyHandshakeError } from '../transport/handshake-failure.js';
import { closeServer, ignoreSocketError, listenOn } from '../transport/listen.js';
import type { DataPathOptions } from '../transport/options.js';
import type { ConnectionTracker } from '../transport/tracker.js';
import { bindDirectionMetrics, type DirectionMetrics, type PortMetrics, type ProxyMetrics } from '../metrics.js';
import type { HandshakeAdmission } from './admission.js';
import { forwardToApp, type InboundForwarder } from './forward.js';
import { buildSanAllowList, checkClientIdentity, type SanAllowList } from './identity.js';
import { isOperatorSanText, parseForwardServerName } from '../../contract/operator-identity.js';
import { UNKNOWN_PEER } from '../transport/peer-label.js';
import { TUNNEL_ALPN } from '../tunnel/protocol.js';
import type { TunnelServer, TunnelSlots } from '../tunnel/server.js';

/** Live handles of the inbound side. */
export interface InboundRuntime {
  readonly store: CredentialStore;
  readonly metrics: ProxyMetrics;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Pending-handshake limits, shared by every inbound listener of the process. */
  readonly admission: HandshakeAdmission;
  /** The inbound end of the pooled tunnel; undefined with `--tunnel off`. */
  readonly tunnel?: TunnelServer | undefined;
}

/** A listening server of the data path. */
export interface RunningListener {
  readonly name: string;
  readonly port: number;
  /** Stops accepting; existing connections continue. */
  stopAccepting(): Promise<void>;
}

/** Where an admitted connection goes and which identity check it passes first; built once at startup. */
export interface InboundRoute {
  readonly appPort: number;
  /** True: a client certificate chaining to the mesh CA bundle is required (and `allow` applies). */
  readonly mtls: boolean;
  /** SAN allow-list; undefined = any mesh identity. */
  readonly allow: SanAllowList | undefined;
  /** Operator certificates admitted (ingress `mtls+operator`); otherwise they are refused (`operator-not-allowed`). */
  readonly operators: boolean;
  /** An L7 port (ingress `+http`/`+h2c`): what the app speaks; absent = L4 only (no L7 request reaches it). */
  readonly protocol?: AppProtocol | undefined;
  /**
   * The port-forward path (a connection to the mTLS listener's own port): the real route is the one of the port the
   * client's TLS server name names (`forwardServerName`), looked up here after the handshake; only operators use it.
   */
  readonly forward?: (port: number) => InboundRoute | undefined;
}

/** Picks the route of an accepted TCP connection; undefined refuses it before any TLS work. */
export type InboundRouter = (raw: Socket) => InboundRoute | undefined;

/** Everything one inbound TLS server is built from. */
export interface InboundServerSpec {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Ask clients for a certificate during the handshake (every route of an mTLS listener needs it). */
  readonly requestCert: boolean;
  readonly route: InboundRouter;
  /** Runs after listen() and before the port is reported started (IP_TRANSPARENT goes here). */
  readonly afterListen?: (server: NetServer) => Promise<void>;
  /**
   * The route of a tunnel stream's CONNECT port on this listener (`listenPort` = the bound port); undefined = the
   * listener serves no tunnel streams for that port.
   */
  readonly tunnelRoute?: (port: number, listenPort: number) => InboundRoute | undefined;
}

/** What is known of an accepted TCP connection (the TLS socket's parent) by the time its handshake ends. */
interface Accepted {
  readonly route: InboundRoute;
  /** The children of the route's port (its original destination port in capture mode), picked once at accept. */
  readonly metrics: PortMetrics;
  /** performance.now() at accept, for the handshake-duration histogram. */
  readonly at: number;
  /** The credential generation whose context the handshake uses. */
  readonly generation: number;
}

const accepted = new WeakMap<Socket, Accepted>();

/** Starts the TLS listener for one explicit inbound entry on host:cfg.listenPort. */
export function startInboundListener(cfg: InboundListenerConfig, host: string, options: DataPathOptions, rt: InboundRuntime): Promise<RunningListener> {
  const route: InboundRoute = {
    appPort: cfg.appPort,
    mtls: cfg.mode.kind === 'mtls',
    allow: cfg.mode.kind === 'mtls' ? buildSanAllowList(cfg.mode.allow) : undefined,
    operators: cfg.mode.kind === 'mtls' && cfg.mode.operators === true,
    protocol: cfg.mode.kind === 'mtls' ? cfg.mode.protocol : undefined,
  };
  // A tunnel stream reaches this entry by naming the listener's own port, as a per-connection client dials it.
  const tunnelRoute = (port: number, listenPort: number): InboundRoute | undefined => (port === listenPort ? route : undefined);
  return startInboundServer({ name: cfg.name, host, port: cfg.listenPort, requestCert: route.mtls, route: () => route, tunnelRoute }, options, rt);
}

/** Starts one inbound TLS server. */
export async function startInboundServer(spec: InboundServerSpec, options: DataPathOptions, rt: InboundRuntime): Promise<RunningListener> {
  // Labelled by the route's port (the port the peer dialled, not this listener's), bound once per port at startup.
  const byPort: DirectionMetrics = bindDirectionMetrics(rt.metrics, 'inbound');
  const forwarder: InboundForwarder = { tracker: rt.tracker, options };
  const role: ServerRole = spec.requestCert ? 'mtls' : 'tls';
  // SECURITY: only listeners that require a client certificate offer the tunnel; a `tls` port's never does.
  const tunnel = spec.requestCert ? rt.tunnel : undefined;
  const tlsServer: Server = createServer({
    ...rt.store.current.contextOptions,
    requestCert: spec.requestCert,
    // SECURITY: verification result is enforced by checkClientIdentity before any app connection; Node's own
    // rejectUnauthorized does the same post-handshake destroy, but would not tell us why.
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs,
    allowHalfOpen: true,
    highWaterMark: 64 * 1024,
    // A client that offers ALPN without the tunnel's is refused (no_application_protocol); ccmesh's per-connection
    // client offers none.
    ...(tunnel === undefined ? {} : { ALPNProtocols: [TUNNEL_ALPN] }),
  });
  tlsServer.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    const metrics = acceptedOf(socket)?.metrics ?? byPort.forPort(undefined);
    metrics.failure[classifyHandshakeError(err)].inc();
    metrics.result.refused.inc();
    socket.destroy();
  });
  tlsServer.on('secureConnection', (socket: TLSSocket) => onSecure(socket, byPort, forwarder, rt, tunnel));
  // SECURITY: each role has its own contexts (ticket keys, session-id context); see GenerationContexts.
  installContext(tlsServer, serverContext(rt.store.current, role));
  rt.store.onGeneration((g) => installContext(tlsServer, serverContext(g, role)));

  const server: NetServer = createNetServer({ allowHalfOpen: true, noDelay: true, highWaterMark: 64 * 1024 });
  server.maxConnections = options.maxConnections;
  // SECURITY: every tunnel stream this listener carries is an app connection, so it counts against --max-connections
  // with the accepted TCP connections (a pooled connection is one of those too): a peer can't make the sidecar open
  // more app connections through one pooled connection than it could open TCP connections.
  const load = { connections: 0, streams: 0 };
  const slots: TunnelSlots = {
    take: () => {
      if (load.connections + load.streams >= options.maxConnections) return false;
      load.streams++;
      return true;
    },
    release: () => {
      load.streams--;
    },
  };
  server.on('connection', (raw: Socket) => {
    load.connections++;
    raw.once('close', () => load.connections--);
    const route = spec.route(raw);
    if (load.connections + load.streams > options.maxConnections) {
      // Node's own maxConnections counts TCP connections only; with tunnel streams the listener may be full earlier.
      const metrics = byPort.forPort(route?.appPort);
      metrics.failure['too-many-connections'].inc();
      metrics.result.refused.inc();
      raw.destroy();
      return;
    }
    if (route === undefined) {
      // Refused before the handshake: nothing of this connection reaches TLS or the app.
      const metrics = byPort.forPort(raw.localPort);
      metrics.failure['port-not-served'].inc();
      metrics.result.refused.inc();
      raw.destroy();
      return;
    }
    const metrics = byPort.forPort(route.appPort);
    const refusal = rt.admission.admit(raw);
    if (refusal !== undefined) {
      // Refused before any TLS state is allocated: an unauthenticated flood costs an accept and a close.
      metrics.failure[refusal].inc();
      metrics.result.refused.inc();
      raw.destroy();
      return;
    }
    // Refused sockets above are destroyed at once; only admitted ones are tracked for drain.
    rt.tracker.add(raw);
    accepted.set(raw, { route, metrics, at: performance.now(), generation: rt.store.generationNumber });
    tlsServer.emit('connection', raw);
  });
  server.on('error', (err) => rt.logger.error('inbound listener error', { err, name: spec.name, port: spec.port }));
  const port = await listenOn(server, spec.host, spec.port, `inbound listener "${spec.name}"`);
  try {
    await spec.afterListen?.(server);
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  const tunnelRoute = spec.tunnelRoute;
  if (tunnel !== undefined && tunnelRoute !== undefined) {
    tunnel.addRoutes((p) => {
      const r = tunnelRoute(p, port);
      return r === undefined ? undefined : { route: r, metrics: byPort.forPort(r.appPort), slots };
    });
  }
  rt.logger.info('inbound listener started', { name: spec.name, host: spec.host, port, requestCert: spec.requestCert });
  return { name: spec.name, port, stopAccepting: () => closeServer(server) };
}

/**
 * Makes `server` hand `context` to every new handshake; live connections keep the context they started with.
 * Node 20's public `server.setSecureContext(options)` rebuilds a context from a fixed list of options and drops
 * `allowPartialTrustChain`, without which a bundle of (non-self-signed) mesh CAs can't end a chain; so the
 * generation's prebuilt context is installed where tls.Server keeps it. Startup fails closed if that ever moves.
 */
function installContext(server: Server, context: SecureContext): void {
  const s = server as unknown as { _sharedCreds?: SecureContext };
  if (!('_sharedCreds' in s) || typeof s._sharedCreds !== 'object') {
    throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, 'this Node.js keeps no per-server TLS context where ccmesh expects it; refusing to run with an unswappable context');
  }
  s._sharedCreds = context;
}

/** What was recorded at accept for the TLS socket's parent (Node keeps the accepted TCP socket there). */
function acceptedOf(socket: TLSSocket): Accepted | undefined {
  const parent = (socket as unknown as { _parent?: Socket })._parent;
  return parent === undefined ? undefined : accepted.get(parent);
}

function onSecure(socket: TLSSocket, byPort: DirectionMetrics, forwarder: InboundForwarder, rt: InboundRuntime, tunnel: TunnelServer | undefined): void {
  socket.on('error', ignoreSocketError);
  // The route, its port's metrics and the handshake clock live on the accepted TCP socket (the TLS socket's parent).
  const parent = (socket as unknown as { _parent?: Socket })._parent;
  const at = acceptedOf(socket);
  if (at === undefined) {
    // SECURITY: no route means we can't tell which checks apply; never forward such a connection.
    const metrics = byPort.forPort(undefined);
    metrics.failure['port-not-served'].inc();
    metrics.result.refused.inc();
    socket.destroy();
    return;
  }
  let metrics = at.metrics;
  metrics.handshake.observe((performance.now() - at.at) / 1000);
  const route = at.route.forward === undefined ? at.route : forwardedRoute(socket, at.route.forward);
  if (typeof route === 'string') {
    metrics.failure[route].inc();
    metrics.result.refused.inc();
    socket.destroy();
    return;
  }
  // The port-forward path: from here on the connection is counted under the app port it named.
  if (route !== at.route) metrics = byPort.forPort(route.appPort);
  if (route.mtls) {
    const g = rt.store.current;
    const recheck = socket.isSessionReused() || at.generation !== rt.store.generationNumber;
    const refusal = checkClientIdentity(socket, route.allow, { bundle: g.bundle, nowMs: rt.clock.nowMs(), recheck }, route.operators);
    if (refusal !== undefined) {
      metrics.failure[refusal].inc();
      metrics.result.refused.inc();
      socket.destroy();
      return;
    }
  }
  // The handshake slot is free now; only a verified mesh identity frees the per-source slot too (a `tls` port's
  // connection keeps it until it closes, so one source can't hold unbounded unauthenticated connections).
  rt.admission.handshakeDone(parent!, route.mtls);
  if (socket.alpnProtocol === TUNNEL_ALPN) {
    // SECURITY: a pooled tunnel connection passed the same gate as any other (above); its verified leaf is the
    // identity every stream on it is checked with. Only an mTLS route with a tunnel may get here.
    const peer = socket.getPeerX509Certificate();
    // SECURITY: the pooled tunnel is sidecar to sidecar; an operator certificate never gets a pooled connection.
    if (peer !== undefined && isOperatorSanText(peer.subjectAltName)) {
      metrics.failure['operator-not-allowed'].inc();
      metrics.result.refused.inc();
      socket.destroy();
      return;
    }
    if (tunnel === undefined || !route.mtls || peer === undefined) {
      metrics.failure['handshake-error'].inc();
      metrics.result.refused.inc();
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    tunnel.serve(socket, peer);
    return;
  }
  metrics.open.inc();
  socket.setNoDelay(true);
  // SECURITY (cardinality): the peer label is read only from a leaf the gate above verified; a `tls` route has none.
  const peer = metrics.peer(route.mtls ? rt.metrics.traffic.peers.of(socket.getPeerX509Certificate()) : UNKNOWN_PEER);
  forwardToApp(forwarder, route.appPort, socket, { port: metrics, peer, startedAt: at.at });
}

/**
 * The route of a port-forward connection (one made to the mTLS listener's own port): the port its TLS server name
 * names, which the handshake transcript authenticates (a relay that rewrote it would break the handshake). Only an
 * operator certificate may take this path — a workload reaches a port by connecting to it — and only to a port whose
 * ingress entry says `mtls+operator` (checked with the rest of the identity by the caller). Returns the refusal
 * reason otherwise.
 */
function forwardedRoute(socket: TLSSocket, lookup: (port: number) => InboundRoute | undefined): InboundRoute | 'port-not-served' | 'operator-not-allowed' {
  const peer = socket.getPeerX509Certificate();
  // SECURITY: workloads never use the port-forward path; it exists for operators only.
  if (peer === undefined || !isOperatorSanText(peer.subjectAltName)) return 'operator-not-allowed';
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  const port = typeof servername === 'string' ? parseForwardServerName(servername) : undefined;
  const route = port === undefined ? undefined : lookup(port);
  return route === undefined || route.forward !== undefined ? 'port-not-served' : route;
}
