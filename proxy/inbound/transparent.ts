/**
 * The transparent inbound listeners (docs/design.md §4, §5): TPROXY hands every captured TCP connection to the mTLS
 * listener (15006) or, for `tls` ingress ports, to the TLS-only listener (15007) without rewriting its destination,
 * so the accepted socket's localPort IS the original destination port. The route (allow-list, TLS or mTLS, app
 * port) is looked up by that port in a map built once at startup; the app is reached at 127.0.0.1:<original port>
 * (loopback is exempt from capture, so the forwarded connection is not captured again).
 */
import type { Server, Socket } from 'node:net';
import { CcmeshError } from '../../lib/errors.js';
import { setTransparent } from '../../lib/net/transparent.js';
import type { TransparentInboundConfig } from '../config.js';
import type { DataPathOptions } from '../transport/options.js';
import { startInboundServer, type InboundRoute, type InboundRouter, type InboundRuntime, type InboundServerSpec, type RunningListener } from './accept.js';
import { buildSanAllowList } from './identity.js';

/** The routers of both listeners, built once; exported for unit tests. */
export function buildTransparentRouters(cfg: TransparentInboundConfig): { mtls: InboundRouter; tls: InboundRouter; mtlsByPort: (port: number) => InboundRoute | undefined } {
  const own = new Set(cfg.ownPorts);
  const mtlsRoutes = new Map<number, InboundRoute>();
  const tlsRoutes = new Map<number, InboundRoute>();
  for (const e of cfg.entries) {
    if (e.mode.kind === 'mtls') mtlsRoutes.set(e.port, { appPort: e.port, mtls: true, allow: buildSanAllowList(e.mode.allow), operators: e.mode.operators === true, protocol: e.mode.protocol });
    else if (e.mode.kind === 'tls') tlsRoutes.set(e.port, { appPort: e.port, mtls: false, allow: undefined, operators: false });
  }
  const mtlsByPort = (port: number | undefined): InboundRoute | undefined => {
    if (port === undefined || own.has(port)) return undefined;
    return mtlsRoutes.get(port) ?? { appPort: port, mtls: true, allow: undefined, operators: false };
  };
  // A connection to the mTLS listener's own port (kubectl port-forward into the pod, or a direct dial of it) is the
  // port-forward path: the target port is the one its TLS server name names, looked up after the handshake.
  const forward: InboundRoute = { appPort: 0, mtls: true, allow: undefined, operators: true, forward: (p) => mtlsByPort(p) };
  return {
    mtlsByPort,
    // SECURITY: every port that is not an mtls entry — unlisted, and also a tls or plain entry that reached this
    // listener against the rules — gets the restrictive default: mTLS, any mesh identity. The sidecar's own ports
    // are never forwarded (127.0.0.1:15006 would be this very listener).
    mtls: (raw: Socket) => (raw.localPort === cfg.mtlsPort ? forward : mtlsByPort(raw.localPort)),
    // SECURITY: the TLS-only listener serves exactly the `tls` entries; any other port arriving here would skip
    // client authentication, so it is refused.
    tls: (raw: Socket) => (raw.localPort === undefined ? undefined : tlsRoutes.get(raw.localPort)),
  };
}

/**
 * Binds `::` (one dual-stack socket serves IPv4 and IPv6 captures) and falls back to 0.0.0.0 on a kernel without
 * IPv6; IP_TRANSPARENT / IPV6_TRANSPARENT is set on the listening fd before the port is reported started.
 */
async function startTransparent(name: string, port: number, requestCert: boolean, route: InboundRouter, tunnelRoute: InboundServerSpec['tunnelRoute'], options: DataPathOptions, rt: InboundRuntime): Promise<RunningListener> {
  const afterListen = (server: Server): Promise<void> => setTransparent(server);
  const extra = tunnelRoute === undefined ? {} : { tunnelRoute };
  try {
    return await startInboundServer({ name, host: '::', port, requestCert, route, afterListen, ...extra }, options, rt);
  } catch (err) {
    const code = err instanceof CcmeshError ? (err.cause as { code?: unknown } | undefined)?.code : undefined;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    rt.logger.warn('no IPv6 in this kernel; transparent listener on IPv4 only', { name, port });
    return startInboundServer({ name, host: '0.0.0.0', port, requestCert, route, afterListen, ...extra }, options, rt);
  }
}

/** Starts the transparent mTLS (15006) and TLS-only (15007) listeners. */
export async function startTransparentInbound(cfg: TransparentInboundConfig, options: DataPathOptions, rt: InboundRuntime): Promise<RunningListener[]> {
  const routers = buildTransparentRouters(cfg);
  // A tunnel stream names the original destination port, as a captured connection arrives with it.
  const mtls = await startTransparent('transparent-mtls', cfg.mtlsPort, true, routers.mtls, (p) => routers.mtlsByPort(p), options, rt);
  try {
    return [mtls, await startTransparent('transparent-tls', cfg.tlsPort, false, routers.tls, undefined, options, rt)];
  } catch (err) {
    await mtls.stopAccepting();
    throw err;
  }
}
