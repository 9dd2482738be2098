/**
 * The transparent outbound listener (15001, `--egress-capture`). The capture rules mark the app's TCP to the
 * configured blocks in mangle OUTPUT, policy routing loops it over lo, and TPROXY hands it to this listener without
 * rewriting the destination: the accepted socket's localAddress/localPort IS where the app wanted to go. The sidecar
 * then opens mTLS to that same address and port with its own leaf as the client certificate; the peer pod's capture
 * delivers it to the peer sidecar's inbound listener (15006, or 15007 for a `tls` port) with the port preserved, and
 * that sidecar forwards to its app. The server must chain to the mesh CA bundle; its identity is not pinned (any mesh
 * identity), because an IP destination names no workload — a documented limitation (docs/limitations.md): use an
 * egress entry with an identity where the server's identity matters. Why the original port and not the peer's 15006:
 * docs/proxy.md, "Transparent outbound".
 *
 * SECURITY: the sidecar's own connection goes to an address inside the captured blocks; it escapes capture only
 * because the rules exempt the proxy's uid (PROXY_UID). Run as any other uid and it would be captured by this very
 * listener again — the entry refuses `--egress-capture` unless the process runs as that uid.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { CcmeshError } from '../../lib/errors.js';
import { ANY_MESH_IDENTITY, describeEgressIdentity } from '../../lib/mesh-config/egress.js';
import { setTransparent } from '../../lib/net/transparent.js';
import type { TransparentOutboundConfig } from '../config.js';
import { closeServer, listenOn } from '../transport/listen.js';
import { HIGH_WATER_MARK, type DataPathOptions } from '../transport/options.js';
import type { RunningListener } from '../inbound/accept.js';
import { bindDirectionMetrics, type PortMetrics } from '../metrics.js';
import { buildServerIdentityCheck } from './upstream-identity.js';
import { TunnelPool } from '../tunnel/pool.js';
import { connectUpstream, type OutboundRuntime, type UpstreamContext } from './upstream.js';

/** TLS sessions kept for resumption, one per original destination; the oldest goes first. */
export const SESSION_CACHE_SIZE = 1024;

/** `::ffff:198.18.0.1` (an IPv4 connection on the dual-stack socket) → `198.18.0.1`; anything else unchanged. */
export function unmapAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isLoopback(address: string): boolean {
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

/**
 * The original destination of an accepted captured connection, or undefined when it must not be dialled: unknown,
 * loopback (only a direct local connection to 15001 looks like that; dialling it would reach the pod itself), or
 * one of the sidecar's own ports (a loop).
 */
export function originalDestination(raw: Pick<Socket, 'localAddress' | 'localPort'>, ownPorts: ReadonlySet<number>): { host: string; port: number } | undefined {
  if (raw.localAddress === undefined || raw.localPort === undefined) return undefined;
  const host = unmapAddress(raw.localAddress);
  if (isIP(host) === 0 || isLoopback(host) || ownPorts.has(raw.localPort)) return undefined;
  return { host, port: raw.localPort };
}

/** Starts the transparent outbound listener on `::` (falls back to 0.0.0.0 without IPv6), IP_TRANSPARENT set. */
export async function startTransparentOutbound(cfg: TransparentOutboundConfig, options: DataPathOptions, rt: OutboundRuntime): Promise<RunningListener> {
  const own = new Set(cfg.ownPorts);
  // SECURITY: any mesh leaf is accepted as the server — there is no name to pin for an IP destination (above).
  const tunnel = options.tunnel.enabled ? new TunnelPool(options.tunnel, rt) : undefined;
  const check = buildServerIdentityCheck(ANY_MESH_IDENTITY);
  // One context per port label (the route ports and `other`), built at startup; a connection picks its own by its
  // original destination port (the listener's 15001 says nothing).
  const byPort = bindDirectionMetrics(rt.metrics, 'outbound');
  const contexts = new Map<PortMetrics, UpstreamContext>();
  for (const port of [...rt.metrics.traffic.ports, undefined]) {
    const metrics = byPort.forPort(port);
    contexts.set(metrics, { check, metrics, options, rt, tunnel });
  }
  const sessions = new Map<string, Buffer>();
  rt.store.onGeneration(() => sessions.clear());
  const onConnection = (app: Socket): void => {
    const dst = originalDestination(app, own);
    if (dst === undefined) {
      const metrics = byPort.forPort(app.localPort);
      metrics.failure['port-not-served'].inc();
      metrics.result.refused.inc();
      app.destroy();
      return;
    }
    const ctx = contexts.get(byPort.forPort(dst.port))!;
    const key = `${dst.host}|${dst.port}`;
    connectUpstream(ctx, app, {
      host: dst.host,
      port: dst.port,
      servername: undefined,
      session: sessions.get(key),
      onSession: (s) => {
        sessions.delete(key);
        if (sessions.size >= SESSION_CACHE_SIZE) sessions.delete(sessions.keys().next().value!);
        sessions.set(key, s);
      },
    });
  };
  const listen = async (host: string): Promise<{ server: Server; port: number }> => {
    const server: Server = createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK });
    server.maxConnections = options.maxConnections;
    server.on('connection', onConnection);
    server.on('error', (err) => rt.logger.error('transparent outbound listener error', { err }));
    const port = await listenOn(server, host, cfg.port, 'transparent outbound listener');
    try {
      await setTransparent(server);
    } catch (err) {
      await closeServer(server);
      throw err;
    }
    return { server, port };
  };
  let bound: { server: Server; port: number };
  try {
    bound = await listen('::');
  } catch (err) {
    const code = err instanceof CcmeshError ? (err.cause as { code?: unknown } | undefined)?.code : undefined;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    rt.logger.warn('no IPv6 in this kernel; transparent outbound listener on IPv4 only', { port: cfg.port });
    bound = await listen('0.0.0.0');
  }
  rt.logger.info('transparent outbound listener started', { port: bound.port, identity: describeEgressIdentity(ANY_MESH_IDENTITY) });
  return {
    name: 'transparent-outbound',
    port: bound.port,
    stopAccepting: () => {
      tunnel?.close();
      return closeServer(bound.server);
    },
  };
}
