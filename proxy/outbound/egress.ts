/**
 * One egress listener: the app connects in plaintext to 127.x.y.z:port, the sidecar opens mTLS to the remote
 * (resolved at each connect, so DNS changes apply to new connections), verifies the server — chain to the mesh CA
 * bundle and the entry's identity (`server-identity.ts`) — then splices. One TLS session per listener is kept for
 * resumption, so repeat connections between the same pair of sidecars skip the full handshake; it is dropped when
 * our credentials change, so the peer always sees the current leaf.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { describeEgressIdentity } from '../../lib/mesh-config/egress.js';
import type { EgressListenerConfig } from '../config.js';
import { closeServer, listenOn } from '../transport/listen.js';
import { HIGH_WATER_MARK, type DataPathOptions } from '../transport/options.js';
import type { RunningListener } from '../inbound/accept.js';
import { bindDirectionMetrics, type PortMetrics } from '../metrics.js';
import { buildServerIdentityCheck, type ServerIdentityCheck } from './upstream-identity.js';
import { TunnelPool } from '../tunnel/pool.js';
import { connectUpstream, type OutboundRuntime, type UpstreamContext, type UpstreamTarget } from './upstream.js';
import { HttpEgress } from '../http/from-app.js';

/** Live handles of the egress side. */
export type EgressRuntime = OutboundRuntime;

/** The per-listener state built once at startup; a connection only reads it (and updates `session`). */
interface EgressRoute extends UpstreamContext {
  readonly cfg: EgressListenerConfig;
  readonly servername: string | undefined;
  readonly check: ServerIdentityCheck;
  readonly metrics: PortMetrics;
  readonly options: DataPathOptions;
  readonly rt: EgressRuntime;
  session: Buffer | undefined;
  readonly onSession: (s: Buffer) => void;
  /** The L7 side of an `#http` entry with the tunnel on; undefined = L4. */
  http: HttpEgress | undefined;
}

/** Starts the egress listener of one entry. */
export async function startEgressListener(cfg: EgressListenerConfig, options: DataPathOptions, rt: EgressRuntime): Promise<RunningListener> {
  const route: EgressRoute = {
    cfg,
    // SNI must not be an IP address (RFC 6066).
    servername: isIP(cfg.remote.host) === 0 ? cfg.remote.host : undefined,
    check: buildServerIdentityCheck(cfg.identity),
    // Labelled by the remote's port (where the connection goes), not the loopback port the app dialled.
    metrics: bindDirectionMetrics(rt.metrics, 'outbound').forPort(cfg.remote.port),
    options,
    rt,
    tunnel: options.tunnel.enabled ? new TunnelPool(options.tunnel, rt) : undefined,
    session: undefined,
    onSession: (s: Buffer) => {
      route.session = s;
    },
    http: undefined,
  };
  if (cfg.protocol === 'http' && route.tunnel !== undefined) route.http = new HttpEgress(route, route.tunnel, targetOf(route));
  rt.store.onGeneration(() => {
    route.session = undefined;
  });
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK });
  server.maxConnections = options.maxConnections;
  server.on('connection', (app: Socket) => onAppConnection(route, app));
  server.on('error', (err) => rt.logger.error('egress listener error', { err, name: cfg.name }));
  const port = await listenOn(server, cfg.listen.host, cfg.listen.port, `egress listener "${cfg.name}"`);
  rt.logger.info('egress listener started', { name: cfg.name, listen: `${cfg.listen.host}:${port}`, remote: `${cfg.remote.host}:${cfg.remote.port}`,
    identity: describeEgressIdentity(cfg.identity), identitySource: cfg.identitySource });
  return {
    name: cfg.name,
    port,
    stopAccepting: () => {
      route.tunnel?.close();
      return closeServer(server);
    },
  };
}

function targetOf(route: EgressRoute): UpstreamTarget {
  return {
    host: route.cfg.remote.host,
    port: route.cfg.remote.port,
    servername: route.servername,
    session: route.session,
    onSession: route.onSession,
  };
}

function onAppConnection(route: EgressRoute, app: Socket): void {
  const http = route.http;
  connectUpstream(route, app, targetOf(route), http === undefined ? undefined : (a) => http.serve(a));
}
