/**
 * One egress listener: the app connects in plaintext to 127.x.y.z:port, the sidecar opens mTLS to the remote
 * (resolved at each connect, so DNS changes apply to new connections), verifies the server, then splices. One TLS
 * session per listener is kept for resumption, so repeat connections between the same pair of sidecars skip the
 * full handshake; it is dropped when our credentials change, so the peer always sees the current leaf.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Logger } from '../../../lib/log.js';
import type { EgressListenerConfig } from '../config.js';
import type { CredentialStore } from '../credentials/store.js';
import { classifyHandshakeError } from '../data/handshake-failure.js';
import { closeServer, ignoreSocketError, listenOn } from '../data/listen.js';
import { HIGH_WATER_MARK, type DataPathOptions } from '../data/options.js';
import { splice } from '../data/splice.js';
import type { ConnectionTracker } from '../data/tracker.js';
import type { RunningListener } from '../inbound/accept.js';
import { bindPortMetrics, type PortMetrics, type ProxyMetrics } from '../metrics.js';
import { buildServerIdentityCheck, type ServerIdentityCheck } from './server-identity.js';

/** Live handles of the egress side. */
export interface EgressRuntime {
  readonly store: CredentialStore;
  readonly metrics: ProxyMetrics;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
}

/** The per-listener state built once at startup; a connection only reads it (and updates `session`). */
interface EgressRoute {
  readonly cfg: EgressListenerConfig;
  readonly servername: string | undefined;
  readonly check: ServerIdentityCheck;
  readonly metrics: PortMetrics;
  readonly options: DataPathOptions;
  readonly rt: EgressRuntime;
  session: Buffer | undefined;
}

/** Starts the egress listener of one entry. */
export async function startEgressListener(cfg: EgressListenerConfig, options: DataPathOptions, rt: EgressRuntime): Promise<RunningListener> {
  const route: EgressRoute = {
    cfg,
    // SNI must not be an IP address (RFC 6066).
    servername: isIP(cfg.remote.host) === 0 ? cfg.remote.host : undefined,
    check: buildServerIdentityCheck(cfg.expectSan),
    metrics: bindPortMetrics(rt.metrics, 'outbound', cfg.listen.port),
    options,
    rt,
    session: undefined,
  };
  rt.store.onGeneration(() => {
    route.session = undefined;
  });
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK });
  server.maxConnections = options.maxConnections;
  server.on('connection', (app: Socket) => onAppConnection(route, app));
  server.on('error', (err) => rt.logger.error('egress listener error', { err, name: cfg.name }));
  const port = await listenOn(server, cfg.listen.host, cfg.listen.port, `egress listener "${cfg.name}"`);
  rt.logger.info('egress listener started', { name: cfg.name, listen: `${cfg.listen.host}:${port}`, remote: `${cfg.remote.host}:${cfg.remote.port}`, expectSan: cfg.expectSan });
  return { name: cfg.name, port, stopAccepting: () => closeServer(server) };
}

function onAppConnection(route: EgressRoute, app: Socket): void {
  const { metrics, rt, options } = route;
  app.on('error', ignoreSocketError);
  rt.tracker.add(app);
  metrics.open.inc();
  const started = performance.now();
  // tls.connect hands allowHalfOpen and highWaterMark to its TLSSocket; @types/node does not list them.
  const opts: ConnectionOptions & { allowHalfOpen: boolean; highWaterMark: number } = {
    host: route.cfg.remote.host,
    port: route.cfg.remote.port,
    servername: route.servername,
    secureContext: rt.store.current.context,
    session: route.session,
    checkServerIdentity: route.check,
    allowHalfOpen: true,
    highWaterMark: HIGH_WATER_MARK,
  };
  const up: TLSSocket = tlsConnect(opts);
  up.on('error', ignoreSocketError);
  rt.tracker.add(up);
  let settled = false;
  const fail = (reason: ReturnType<typeof classifyHandshakeError>): void => {
    if (settled) return;
    settled = true;
    metrics.failure[reason].inc();
    metrics.result[reason === 'upstream-connect' ? 'upstream-error' : 'refused'].inc();
    metrics.open.dec();
    app.destroy();
    up.destroy();
  };
  const onTimeout = (): void => fail('handshake-timeout');
  const onUpError = (err: Error): void => fail(classifyHandshakeError(err));
  // The server may close without an error (a refusal after the handshake's last flight), or the app may give up.
  const onClose = (): void => fail('handshake-error');
  up.setTimeout(options.handshakeTimeoutMs, onTimeout);
  up.once('error', onUpError);
  up.once('close', onClose);
  app.once('close', onClose);
  up.on('session', (s: Buffer) => {
    route.session = s;
  });
  up.once('secureConnect', () => {
    if (settled) return;
    settled = true;
    // Pre-handshake listeners go, so the pipeline owns error and close handling from here on.
    up.off('timeout', onTimeout);
    up.off('error', onUpError);
    up.off('close', onClose);
    app.off('close', onClose);
    metrics.handshake.observe((performance.now() - started) / 1000);
    up.setTimeout(0);
    up.setNoDelay(true);
    splice(app, up, options.idleTimeoutMs, (failed) => {
      metrics.open.dec();
      metrics.result[failed ? 'error' : 'ok'].inc();
      metrics.received.inc(app.bytesRead);
      metrics.sent.inc(app.bytesWritten);
    });
  });
}
