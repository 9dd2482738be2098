/**
 * The upstream half of an outbound connection, shared by the egress listeners (`egress.ts`) and the transparent
 * outbound listener (`transparent.ts`): the app's accepted plaintext socket → mTLS to host:port with the generation's
 * context (our leaf as the client certificate, the mesh CA bundle as the only trust), the server checked by
 * `check` on top of the chain, then the two are spliced. Failures before the handshake completed are classified and
 * counted once; after it, the pipeline owns error and close handling.
 */
import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Logger } from '../../lib/log.js';
import type { CredentialStore } from '../credentials/store.js';
import { classifyHandshakeError } from '../transport/handshake-failure.js';
import { ignoreSocketError } from '../transport/listen.js';
import { HIGH_WATER_MARK, type DataPathOptions } from '../transport/options.js';
import { splice } from '../transport/splice.js';
import type { ConnectionTracker } from '../transport/tracker.js';
import { endConnection, type ConnectionMetrics, type HandshakeFailure, type PortMetrics, type ProxyMetrics } from '../metrics.js';
import { UNKNOWN_PEER } from '../transport/peer-label.js';
import type { TunnelPool } from '../tunnel/pool.js';
import type { ServerIdentityCheck } from './upstream-identity.js';

/** Live handles of the outbound side. */
export interface OutboundRuntime {
  readonly store: CredentialStore;
  readonly metrics: ProxyMetrics;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
}

/** Where one upstream connection goes and how its TLS session is kept. */
export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  /** SNI; undefined for an IP literal (RFC 6066 forbids IP SNI). */
  readonly servername: string | undefined;
  /** A TLS session to resume, if any. */
  readonly session: Buffer | undefined;
  /** Called with each new session the server hands out. */
  readonly onSession: (session: Buffer) => void;
}

/** Everything a listener fixes once and every connection only reads. */
export interface UpstreamContext {
  readonly check: ServerIdentityCheck;
  /** The children of the destination's port (the remote's, or the original destination's in capture mode). */
  readonly metrics: PortMetrics;
  readonly options: DataPathOptions;
  readonly rt: OutboundRuntime;
  /** The listener's pool of tunnel connections; undefined with `--tunnel off`. */
  readonly tunnel?: TunnelPool | undefined;
}

/** performance.now() when each app connection was accepted, for the connection-duration histogram. */
const acceptedAt = new WeakMap<Socket, number>();

/**
 * The metric children an outbound connection ends with: its port's, and those of `peerLabel` (from
 * `PeerLabels.of` on the verified server leaf; `unknown` when no server was verified).
 */
export function outboundConnection(metrics: PortMetrics, app: Socket, peerLabel: string | undefined): ConnectionMetrics {
  return { port: metrics, peer: peerLabel === undefined ? metrics : metrics.peer(peerLabel), startedAt: acceptedAt.get(app) ?? performance.now() };
}

/**
 * Carries the accepted app socket `app` to `target`: over a pooled tunnel stream when the listener has a pool
 * (`proxy/tunnel/pool.ts`, which falls back to {@link connectPerConnection} by itself), else over its own mTLS. With
 * `l7` (an `#http` egress entry) the connection is handed to it instead of a CONNECT stream when a pooled connection
 * exists; without the tunnel it is carried as L4.
 */
export function connectUpstream(ctx: UpstreamContext, app: Socket, target: UpstreamTarget, l7?: (app: Socket) => void): void {
  app.on('error', ignoreSocketError);
  ctx.rt.tracker.add(app);
  acceptedAt.set(app, performance.now());
  ctx.metrics.open.inc();
  // An L7 listener's connection is parsed once a pooled connection is there (`tunnel/pool.ts` attach), else carried.
  if (ctx.tunnel !== undefined && l7 !== undefined) ctx.tunnel.attach(ctx, app, target, () => l7(app));
  else if (ctx.tunnel !== undefined) ctx.tunnel.carry(ctx, app, target);
  else connectPerConnection(ctx, app, target);
}

/** Counts an app connection that never reached its server (it was counted open) and closes it. */
export function failUpstream(metrics: PortMetrics, app: Socket, reason: HandshakeFailure): void {
  metrics.failure[reason].inc();
  endConnection(outboundConnection(metrics, app, undefined), reason === 'upstream-connect' ? 'upstream-error' : 'refused');
  app.destroy();
}

/** Opens mTLS to `target` for `app` (already tracked and counted open) and splices the two once the server is verified. */
export function connectPerConnection(ctx: UpstreamContext, app: Socket, target: UpstreamTarget): void {
  let done = false;
  const onAppClose = (): void => {
    up.destroy();
  };
  const up = dialUpstream(ctx, target, undefined, (reason) => {
    done = true;
    app.off('close', onAppClose);
    failUpstream(ctx.metrics, app, reason);
  }, (tls, seconds, peer) => {
    done = true;
    app.off('close', onAppClose);
    if (app.destroyed) {
      // The app gave up while the handshake ran.
      tls.destroy();
      failUpstream(ctx.metrics, app, 'handshake-error');
      return;
    }
    spliceUpstream(ctx, app, tls, seconds, peer);
  });
  // The app may give up during the handshake: the dial then fails as `handshake-error`.
  if (!done) app.once('close', onAppClose);
}

/**
 * Splices `app` with an established, verified upstream TLS socket and counts the connection when it ends; `peer` is
 * the server's label from {@link dialUpstream}.
 */
export function spliceUpstream(ctx: UpstreamContext, app: Socket, up: TLSSocket, handshakeSeconds: number, peer: string): void {
  const { metrics, options } = ctx;
  metrics.handshake.observe(handshakeSeconds);
  const m = outboundConnection(metrics, app, peer);
  splice(app, up, options.idleTimeoutMs, (failed) => {
    endConnection(m, failed ? 'error' : 'ok');
    m.peer.received.inc(app.bytesRead);
    m.peer.sent.inc(app.bytesWritten);
  });
}

/**
 * The `peer` label of the server of each TLS session this process keeps for resumption, recorded when the session's
 * full handshake was verified: a resumed client-side session has no peer certificate to read it from.
 */
const sessionPeers = new WeakMap<Buffer, string>();

/**
 * Opens mTLS to `target` with the generation's client context, offering `alpn` (the tunnel's) when given. Exactly one
 * of `onFail` (a classified failure before the handshake completed; the socket is destroyed) and `onSecure` (the
 * server chains to the mesh CA bundle and passed `ctx.check`; `peer` = its `peer` label, `leaf` = its leaf, undefined
 * for a resumed session) is called. Callers use `leaf` and never read the peer certificate of `up` themselves: on a
 * client socket Node 20 hands the leaf out once (a second `getPeerX509Certificate()` gave no certificate here).
 */
export function dialUpstream(
  ctx: UpstreamContext, target: UpstreamTarget, alpn: string[] | undefined, onFail: (reason: HandshakeFailure) => void,
  onSecure: (up: TLSSocket, handshakeSeconds: number, peer: string, leaf: X509Certificate | undefined) => void,
): TLSSocket {
  const { rt, options } = ctx;
  const started = performance.now();
  // tls.connect hands allowHalfOpen and highWaterMark to its TLSSocket; @types/node does not list them.
  // SECURITY: rejectUnauthorized stays at its default (true): the server must chain to the mesh CA bundle of the
  // generation's context; `check` adds the identity requirement (none only for an explicit "any mesh identity").
  const opts: ConnectionOptions & { allowHalfOpen: boolean; highWaterMark: number } = {
    host: target.host,
    port: target.port,
    servername: target.servername,
    secureContext: rt.store.current.contexts.client,
    checkServerIdentity: ctx.check,
    allowHalfOpen: true,
    highWaterMark: HIGH_WATER_MARK,
    ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
  };
  const up: TLSSocket = tlsConnect(opts);
  // The session to resume is set here, once, and not as `session` in the options: tls.connect hands that to the
  // handle twice (in the TLSSocket's init and again in connect), and each time OpenSSL decodes the whole session with
  // the server's certificate chain — the largest JavaScript-side cost of a new upstream connection in the profiles
  // (docs/proxy.md, "Where the CPU goes"). The handshake starts on the TCP connect, always later than this line.
  // (`setSession` is TLSSocket's own method, used by tls.connect; @types/node does not list it.)
  if (target.session !== undefined) (up as TLSSocket & { setSession(session: Buffer): void }).setSession(target.session);
  up.on('error', ignoreSocketError);
  rt.tracker.add(up);
  let settled = false;
  const fail = (reason: HandshakeFailure): void => {
    if (settled) return;
    settled = true;
    up.destroy();
    onFail(reason);
  };
  const onTimeout = (): void => fail('handshake-timeout');
  const onUpError = (err: Error): void => fail(classifyHandshakeError(err));
  // The server may close without an error (a refusal after the handshake's last flight), or the caller gave up.
  const onClose = (): void => fail('handshake-error');
  up.setTimeout(options.handshakeTimeoutMs, onTimeout);
  up.once('error', onUpError);
  up.once('close', onClose);
  // Sessions may arrive before the handshake is verified (TLS 1.2) or after (1.3): labelled once it is.
  let verifiedPeer: string | undefined;
  const unlabelled: Buffer[] = [];
  up.on('session', (session: Buffer) => {
    if (verifiedPeer === undefined) unlabelled.push(session);
    else sessionPeers.set(session, verifiedPeer);
    target.onSession(session);
  });
  up.once('secureConnect', () => {
    if (settled) return;
    settled = true;
    // Pre-handshake listeners go, so the data path owns error and close handling from here on.
    up.off('timeout', onTimeout);
    up.off('error', onUpError);
    up.off('close', onClose);
    up.setTimeout(0);
    up.setNoDelay(true);
    // SECURITY (cardinality): the server passed the chain check and ctx.check; its label is read once, here. A resumed
    // session keeps the label of the verified handshake that made it.
    const resumed = up.isSessionReused() && target.session !== undefined;
    const leaf = resumed ? undefined : up.getPeerX509Certificate();
    verifiedPeer = resumed ? (sessionPeers.get(target.session!) ?? UNKNOWN_PEER) : rt.metrics.traffic.peers.of(leaf);
    for (const s of unlabelled.splice(0)) sessionPeers.set(s, verifiedPeer);
    onSecure(up, (performance.now() - started) / 1000, verifiedPeer, leaf);
  });
  return up;
}
