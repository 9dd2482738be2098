/**
 * One explicit inbound TLS listener (`--no-iptables`): mTLS or server-auth TLS per the ingress entry, with the
 * credentials of the current generation, refusals classified and counted, admitted connections forwarded. The
 * transparent listeners (15006/15007) will reuse this with their own address and an original-destination lookup.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { InboundListenerConfig } from '../config.js';
import type { CredentialStore } from '../credentials/store.js';
import { classifyHandshakeError } from '../data/handshake-failure.js';
import { closeServer, ignoreSocketError, listenOn } from '../data/listen.js';
import type { DataPathOptions } from '../data/options.js';
import type { ConnectionTracker } from '../data/tracker.js';
import { bindPortMetrics, type PortMetrics, type ProxyMetrics } from '../metrics.js';
import { forwardToApp, type InboundForwarder } from './forward.js';
import { buildSanAllowList, checkClientIdentity, type SanAllowList } from './identity.js';

/** Live handles of the inbound side. */
export interface InboundRuntime {
  readonly store: CredentialStore;
  readonly metrics: ProxyMetrics;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
}

/** A listening server of the data path. */
export interface RunningListener {
  readonly name: string;
  readonly port: number;
  /** Stops accepting; existing connections continue. */
  stopAccepting(): Promise<void>;
}

/** When each raw TCP connection arrived, for the handshake-duration histogram. */
const acceptedAt = new WeakMap<Socket, number>();

/** Starts the TLS listener for one inbound entry on host:cfg.listenPort. */
export async function startInboundListener(cfg: InboundListenerConfig, host: string, options: DataPathOptions, rt: InboundRuntime): Promise<RunningListener> {
  const mtls = cfg.mode.kind === 'mtls';
  const allow: SanAllowList | undefined = cfg.mode.kind === 'mtls' ? buildSanAllowList(cfg.mode.allow) : undefined;
  const metrics = bindPortMetrics(rt.metrics, 'inbound', cfg.listenPort);
  const forwarder: InboundForwarder = { appPort: cfg.appPort, metrics, tracker: rt.tracker, options };
  const server: Server = createServer({
    ...rt.store.current.contextOptions,
    requestCert: mtls,
    // SECURITY: verification result is enforced by checkClientIdentity before any app connection; Node's own
    // rejectUnauthorized does the same post-handshake destroy, but would not tell us why.
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs,
    allowHalfOpen: true,
    noDelay: true,
    highWaterMark: 64 * 1024,
  });
  server.maxConnections = options.maxConnections;
  server.on('connection', (raw: Socket) => {
    acceptedAt.set(raw, performance.now());
    rt.tracker.add(raw);
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    metrics.failure[classifyHandshakeError(err)].inc();
    metrics.result.refused.inc();
    socket.destroy();
  });
  server.on('secureConnection', (socket: TLSSocket) => onSecure(socket, mtls, allow, metrics, forwarder));
  server.on('error', (err) => rt.logger.error('inbound listener error', { err, port: cfg.listenPort }));
  installContext(server, rt.store.current.context);
  rt.store.onGeneration((g) => installContext(server, g.context));
  const port = await listenOn(server, host, cfg.listenPort, `inbound listener "${cfg.name}"`);
  rt.logger.info('inbound listener started', { name: cfg.name, port, appPort: cfg.appPort, mode: cfg.mode.kind });
  return { name: cfg.name, port, stopAccepting: () => closeServer(server) };
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

function onSecure(socket: TLSSocket, mtls: boolean, allow: SanAllowList | undefined, metrics: PortMetrics, forwarder: InboundForwarder): void {
  socket.on('error', ignoreSocketError);
  // Node keeps the accepted TCP socket as the TLS socket's parent; it is where the handshake clock started.
  const started = acceptedAt.get((socket as unknown as { _parent?: Socket })._parent as Socket);
  if (started !== undefined) metrics.handshake.observe((performance.now() - started) / 1000);
  if (mtls) {
    const refusal = checkClientIdentity(socket, allow);
    if (refusal !== undefined) {
      metrics.failure[refusal].inc();
      metrics.result.refused.inc();
      socket.destroy();
      return;
    }
  }
  metrics.open.inc();
  socket.setNoDelay(true);
  forwardToApp(forwarder, socket);
}
