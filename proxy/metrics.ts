/**
 * The sidecar's metrics on an explicit registry. Every label value comes from a closed set known at startup
 * (directions, configured ports, the reason and result unions below), so the series count is bounded. Hot-path
 * children are bound once per listener ({@link bindPortMetrics}); a connection only increments prebound children.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Traffic direction of a connection. */
export type Direction = 'inbound' | 'outbound';

/** The gauge of the leaf's notAfter (`ccmesh check` reads it through the pod proxy). */
export const LEAF_EXPIRY_METRIC = 'ccmesh_proxy_leaf_expiry_timestamp_seconds';

/** How a connection ended. */
export const CONNECTION_RESULTS = ['ok', 'refused', 'upstream-error', 'error'] as const;
/** One of {@link CONNECTION_RESULTS}. */
export type ConnectionResult = (typeof CONNECTION_RESULTS)[number];

/** Why a TLS handshake or the identity check after it failed. */
export const HANDSHAKE_FAILURES = [
  'no-client-cert', 'untrusted-cert', 'cert-expired', 'san-not-allowed', 'not-tls', 'handshake-timeout', 'handshake-error',
  'server-untrusted', 'server-san-mismatch', 'upstream-connect', 'port-not-served', 'too-many-handshakes', 'too-many-from-source',
] as const;
/** One of {@link HANDSHAKE_FAILURES}. */
export type HandshakeFailure = (typeof HANDSHAKE_FAILURES)[number];

/**
 * How a leaf renewal attempt ended: `evidence-required` = the Coordinator wants fresh evidence (the manifest's
 * reference values changed) and this sidecar has no evidence issuer (`--tee`), so the leaf will expire.
 */
export const RENEWAL_RESULTS = ['success', 'failure', 'evidence-required'] as const;
/** One of {@link RENEWAL_RESULTS}. */
export type RenewalResult = (typeof RENEWAL_RESULTS)[number];

/**
 * Where a refused credential generation came from: `files` = the TLS directory (at a reload), `renewal` = a
 * `RenewMeshCert` answer, `trust-refresh` = a `GetTrustBundle` answer.
 */
export const CREDENTIAL_SOURCES = ['files', 'renewal', 'trust-refresh'] as const;
/** One of {@link CREDENTIAL_SOURCES}. */
export type CredentialSource = (typeof CREDENTIAL_SOURCES)[number];

/**
 * Why a credential generation was refused: `root-changed` = its root CA is not the one the sidecar started with
 * (SECURITY: someone replaced the TLS directory or answers for the Coordinator); `foreign-ca` = its bundle holds a
 * mesh CA the pinned root did not issue (or the root itself); `identity-changed` = a renewed leaf for another policy
 * than the current leaf's; `invalid` = any other check (unreadable, malformed, mismatching key, expired leaf, a bundle
 * that steps back).
 */
export const CREDENTIAL_REFUSALS = ['root-changed', 'foreign-ca', 'identity-changed', 'invalid'] as const;
/** One of {@link CREDENTIAL_REFUSALS}. */
export type CredentialRefusal = (typeof CREDENTIAL_REFUSALS)[number];

/**
 * What the sidecar knows about the initializer's inbound guard: `unmanaged` with `--no-iptables`; `installed` from
 * startup until the sidecar lifts it and again once the watchdog re-installed it; `lifted` while the pod is open
 * through the mesh; `install-failed` when the watchdog saw drift but could not install it (the pod may be open).
 */
export const GUARD_STATES = ['unmanaged', 'installed', 'lifted', 'install-failed'] as const;
/** One of {@link GUARD_STATES}. */
export type GuardState = (typeof GUARD_STATES)[number];

/** How a tunnel stream ended (`proxy/tunnel/`): `refused` = the inbound side refused it (port, identity, request). */
export const TUNNEL_STREAM_RESULTS = ['ok', 'error', 'refused'] as const;
/** One of {@link TUNNEL_STREAM_RESULTS}. */
export type TunnelStreamResult = (typeof TUNNEL_STREAM_RESULTS)[number];

/**
 * Why the inbound side refused a tunnel stream: `port-not-served` = the CONNECT port has no mTLS route;
 * `san-not-allowed` = the pooled connection's verified identity is not on that port's allow-list; `identity-expired`
 * = the peer's leaf expired (or no longer verifies) since the pooled connection was made; `bad-request` = not a
 * CONNECT to 127.0.0.1:PORT; `app-connect` = the app did not accept the forwarded connection.
 */
export const TUNNEL_REFUSALS = ['port-not-served', 'san-not-allowed', 'identity-expired', 'bad-request', 'app-connect'] as const;
/** One of {@link TUNNEL_REFUSALS}. */
export type TunnelRefusal = (typeof TUNNEL_REFUSALS)[number];

/**
 * Why an outbound connection went over per-connection mTLS although the tunnel is on: `peer-without-tunnel` = the
 * peer did not negotiate the tunnel ALPN; `pool-full` = every pooled connection to it is at its stream limit.
 */
export const TUNNEL_FALLBACKS = ['peer-without-tunnel', 'pool-full'] as const;
/** One of {@link TUNNEL_FALLBACKS}. */
export type TunnelFallback = (typeof TUNNEL_FALLBACKS)[number];

/**
 * Why a pooled connection was retired or closed: `rotated` = the sidecar's credentials or trust changed (no new
 * streams, drains); `untrusted` = the peer's identity is not acceptable under the new trust (closed at once);
 * `expired` = the peer's leaf expired; `drain-timeout` = streams still open at the end of the drain grace were cut.
 */
export const TUNNEL_CLOSES = ['rotated', 'untrusted', 'expired', 'drain-timeout'] as const;
/** One of {@link TUNNEL_CLOSES}. */
export type TunnelClose = (typeof TUNNEL_CLOSES)[number];

/** State of a pooled connection: `active` takes new streams, `draining` only finishes the ones it has. */
export type TunnelConnectionState = 'active' | 'draining';

/** Every metric family of the proxy. */
export interface ProxyMetrics {
  readonly open: Gauge<'direction' | 'port'>;
  readonly connections: Counter<'direction' | 'port' | 'result'>;
  readonly receivedBytes: Counter<'direction' | 'port'>;
  readonly sentBytes: Counter<'direction' | 'port'>;
  readonly handshakeSeconds: Histogram<'direction'>;
  readonly handshakeFailures: Counter<'direction' | 'reason'>;
  readonly leafExpiry: Gauge;
  /** Labelled by {@link RENEWAL_RESULTS}. */
  readonly renewals: Counter<'result'>;
  readonly trustRefreshes: Counter<'result'>;
  readonly credentialReloads: Counter<'result'>;
  /** Labelled by {@link CREDENTIAL_SOURCES} and {@link CREDENTIAL_REFUSALS}. */
  readonly credentialRefusals: Counter<'source' | 'reason'>;
  readonly ready: Gauge;
  readonly guardState: Gauge<'state'>;
  readonly pendingHandshakes: Gauge;
  readonly tunnelStreams: Counter<'direction' | 'result'>;
  readonly tunnelStreamsOpen: Gauge<'direction'>;
  readonly tunnelConnections: Gauge<'direction' | 'state'>;
  readonly tunnelRefusals: Counter<'reason'>;
  readonly tunnelFallbacks: Counter<'reason'>;
  readonly tunnelCloses: Counter<'direction' | 'reason'>;
}

/** Registers the proxy metric families on `registry`; `pendingHandshakes` is read at each scrape. */
export function createProxyMetrics(registry: Registry, pendingHandshakes: () => number = () => 0): ProxyMetrics {
  const registers = [registry];
  return {
    pendingHandshakes: new Gauge({
      name: 'ccmesh_proxy_handshakes_pending', help: 'Inbound connections accepted and still in the TLS handshake (bounded by --max-handshakes)', registers,
      collect() {
        this.set(pendingHandshakes());
      },
    }),
    open: new Gauge({ name: 'ccmesh_proxy_connections_open', help: 'Connections currently open', labelNames: ['direction', 'port'], registers }),
    connections: new Counter({ name: 'ccmesh_proxy_connections_total', help: 'Connections by how they ended', labelNames: ['direction', 'port', 'result'], registers }),
    receivedBytes: new Counter({ name: 'ccmesh_proxy_received_bytes_total', help: 'Bytes received from the accepting side (client → server direction)', labelNames: ['direction', 'port'], registers }),
    sentBytes: new Counter({ name: 'ccmesh_proxy_sent_bytes_total', help: 'Bytes sent back to the accepting side (server → client direction)', labelNames: ['direction', 'port'], registers }),
    handshakeSeconds: new Histogram({
      name: 'ccmesh_proxy_tls_handshake_duration_seconds', help: 'TLS handshake duration', labelNames: ['direction'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    }),
    handshakeFailures: new Counter({ name: 'ccmesh_proxy_tls_handshake_failures_total', help: 'Refused or failed TLS handshakes and identity checks by reason', labelNames: ['direction', 'reason'], registers }),
    // Aggregators apply only to the `--workers` primary's aggregate: the earliest expiry, and ready only if all are.
    leafExpiry: new Gauge({ name: LEAF_EXPIRY_METRIC, help: 'notAfter of the leaf certificate in use', registers, aggregator: 'min' }),
    renewals: new Counter({ name: 'ccmesh_proxy_cert_renewals_total', help: 'Leaf renewal attempts by result', labelNames: ['result'], registers }),
    trustRefreshes: new Counter({ name: 'ccmesh_proxy_trust_bundle_polls_total', help: 'Mesh CA bundle polls by outcome (unchanged, adopted, renewing, failed)', labelNames: ['result'], registers }),
    credentialReloads: new Counter({ name: 'ccmesh_proxy_credential_reloads_total', help: 'Credential generations applied or rejected', labelNames: ['result'], registers }),
    credentialRefusals: new Counter({ name: 'ccmesh_proxy_credential_refusals_total', help: 'Credential generations refused, by where they came from (files, renewal, trust-refresh) and why (root-changed, foreign-ca, invalid)', labelNames: ['source', 'reason'], registers }),
    ready: new Gauge({ name: 'ccmesh_proxy_ready', help: '1 when /ready answers 200', registers, aggregator: 'min' }),
    tunnelStreams: new Counter({ name: 'ccmesh_proxy_tunnel_streams_total', help: 'Tunnel streams (one application connection each) by how they ended: ok, error, refused', labelNames: ['direction', 'result'], registers }),
    tunnelStreamsOpen: new Gauge({ name: 'ccmesh_proxy_tunnel_streams_open', help: 'Tunnel streams open now', labelNames: ['direction'], registers }),
    tunnelConnections: new Gauge({ name: 'ccmesh_proxy_tunnel_connections', help: 'Pooled tunnel connections by state (active, draining)', labelNames: ['direction', 'state'], registers }),
    tunnelRefusals: new Counter({ name: 'ccmesh_proxy_tunnel_stream_refusals_total', help: 'Tunnel streams the inbound side refused, by reason', labelNames: ['reason'], registers }),
    tunnelFallbacks: new Counter({ name: 'ccmesh_proxy_tunnel_fallbacks_total', help: 'Outbound connections carried over per-connection mTLS although the tunnel is on, by reason', labelNames: ['reason'], registers }),
    tunnelCloses: new Counter({ name: 'ccmesh_proxy_tunnel_connection_closes_total', help: 'Pooled tunnel connections retired or closed, by reason (rotated, untrusted, expired, drain-timeout)', labelNames: ['direction', 'reason'], registers }),
    guardState: new Gauge({ name: 'ccmesh_proxy_guard_state', help: 'The inbound guard state as the sidecar knows it: 1 for the current state, 0 for the others', labelNames: ['state'], registers, aggregator: 'max' }),
  };
}

/** Sets the guard-state gauge: 1 for `state`, 0 for every other value of the closed set. */
export function setGuardState(m: ProxyMetrics, state: GuardState): void {
  for (const s of GUARD_STATES) m.guardState.labels(s).set(s === state ? 1 : 0);
}

/** Prebound children of one listener: what a connection on that port touches. */
export interface PortMetrics {
  readonly open: { inc(): void; dec(): void };
  readonly result: Readonly<Record<ConnectionResult, { inc(): void }>>;
  readonly received: { inc(n: number): void };
  readonly sent: { inc(n: number): void };
  readonly handshake: { observe(seconds: number): void };
  readonly failure: Readonly<Record<HandshakeFailure, { inc(): void }>>;
}

/** Binds the children of one listener once, at startup. */
export function bindPortMetrics(m: ProxyMetrics, direction: Direction, port: number): PortMetrics {
  const p = String(port);
  const result = {} as Record<ConnectionResult, { inc(): void }>;
  for (const r of CONNECTION_RESULTS) result[r] = m.connections.labels(direction, p, r);
  const failure = {} as Record<HandshakeFailure, { inc(): void }>;
  for (const r of HANDSHAKE_FAILURES) failure[r] = m.handshakeFailures.labels(direction, r);
  return {
    open: m.open.labels(direction, p),
    result,
    received: m.receivedBytes.labels(direction, p),
    sent: m.sentBytes.labels(direction, p),
    handshake: m.handshakeSeconds.labels(direction),
    failure,
  };
}
