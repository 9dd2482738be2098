/**
 * The sidecar's metrics on an explicit registry. Every label value comes from a set bounded at startup (directions,
 * the configured route ports plus `other`, at most MAX_PEER_LABELS workload ids plus `unknown`, the reason and result
 * unions below), so the series count is bounded. Hot-path children are bound once per direction and port
 * ({@link bindDirectionMetrics}) and once per peer label; a connection resolves its children once (its port when it
 * is accepted, its peer when the identity is verified) and then only increments them — nothing per chunk.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PeerLabels, UNKNOWN_PEER } from './transport/peer-label.js';

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
  'too-many-connections',
  'operator-not-allowed',
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

/**
 * How a tunnel stream ended (`proxy/tunnel/`): `refused` = the inbound side refused it (port, identity, request,
 * limit); `retried` (outbound) = the peer refused it before processing it (REFUSED_STREAM, its GOAWAY, its connection
 * closed before any response) and the app connection was sent again on another stream.
 */
export const TUNNEL_STREAM_RESULTS = ['ok', 'error', 'refused', 'retried'] as const;
/** One of {@link TUNNEL_STREAM_RESULTS}. */
export type TunnelStreamResult = (typeof TUNNEL_STREAM_RESULTS)[number];

/**
 * Why the inbound side refused a tunnel stream: `port-not-served` = the CONNECT port has no mTLS route;
 * `san-not-allowed` = the pooled connection's verified identity is not on that port's allow-list; `identity-expired`
 * = the peer's leaf expired (or no longer verifies) since the pooled connection was made; `bad-request` = not a
 * CONNECT to 127.0.0.1:PORT; `app-connect` = the app did not accept the forwarded connection; `too-many-connections`
 * = the listener's connections and tunnel streams reached `--max-connections`; `not-http-port` = an L7 request (not
 * CONNECT) to a port whose ingress entry is not `+http`/`+h2c`.
 */
export const TUNNEL_REFUSALS = ['port-not-served', 'san-not-allowed', 'identity-expired', 'bad-request', 'app-connect', 'too-many-connections', 'not-http-port'] as const;
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

/** The `port` label of a connection whose original destination port is not a configured route's port. */
export const OTHER_PORT = 'other';

/** Upper bounds of the connection-duration histogram: a few ms to a day (the idle timeout is 1 h by default). */
export const CONNECTION_DURATION_BUCKETS = [0.005, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

/** How the traffic families choose their `port` and `peer` labels; built once per process. */
export interface TrafficLabels {
  /** Route ports that get their own `port` label (ingress entries, egress remotes, `--egress-ports`); else `other`. */
  readonly ports: ReadonlySet<number>;
  /** The bounded `peer` label of verified leaves. */
  readonly peers: PeerLabels;
}

/** Every metric family of the proxy, and how its traffic labels are chosen. */
export interface ProxyMetrics {
  readonly traffic: TrafficLabels;
  readonly open: Gauge<'direction' | 'port'>;
  readonly connections: Counter<'direction' | 'port' | 'peer' | 'result'>;
  readonly receivedBytes: Counter<'direction' | 'port' | 'peer'>;
  readonly sentBytes: Counter<'direction' | 'port' | 'peer'>;
  readonly connectionSeconds: Histogram<'direction' | 'port' | 'result'>;
  readonly handshakeSeconds: Histogram<'direction' | 'port'>;
  readonly handshakeFailures: Counter<'direction' | 'port' | 'reason'>;
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
  readonly httpRequests: Counter<'direction' | 'port' | 'code_class'>;
  readonly httpSeconds: Histogram<'direction' | 'port'>;
  readonly tunnelFallbacks: Counter<'reason'>;
  readonly tunnelCloses: Counter<'direction' | 'reason'>;
  /** App probe checks run, by the pinned probe's container and kind and {@link APP_PROBE_RESULTS} (admin/app-probe.ts). */
  readonly appProbes: Counter<'container' | 'kind' | 'result'>;
}

/** What {@link createProxyMetrics} needs besides the registry; every field has a default for tests. */
export interface ProxyMetricsOptions {
  /** Read at each scrape. */
  readonly pendingHandshakes?: () => number;
  /** Ports with their own `port` label (see {@link TrafficLabels}). */
  readonly routePorts?: Iterable<number>;
  /** The `peer` labels (default: {@link PeerLabels} with its default cap). */
  readonly peers?: PeerLabels;
}

/** Registers the proxy metric families on `registry`. */
export function createProxyMetrics(registry: Registry, options: ProxyMetricsOptions = {}): ProxyMetrics {
  const registers = [registry];
  const pendingHandshakes = options.pendingHandshakes ?? (() => 0);
  return {
    traffic: { ports: new Set(options.routePorts ?? []), peers: options.peers ?? new PeerLabels() },
    pendingHandshakes: new Gauge({
      name: 'ccmesh_proxy_handshakes_pending', help: 'Inbound connections accepted and still in the TLS handshake (bounded by --max-handshakes)', registers,
      collect() {
        this.set(pendingHandshakes());
      },
    }),
    open: new Gauge({ name: 'ccmesh_proxy_connections_open', help: 'Connections currently open', labelNames: ['direction', 'port'], registers }),
    connections: new Counter({ name: 'ccmesh_proxy_connections_total', help: 'Connections by original destination port, verified peer workload and how they ended', labelNames: ['direction', 'port', 'peer', 'result'], registers }),
    receivedBytes: new Counter({ name: 'ccmesh_proxy_received_bytes_total', help: 'Bytes received from the accepting side (client → server direction)', labelNames: ['direction', 'port', 'peer'], registers }),
    sentBytes: new Counter({ name: 'ccmesh_proxy_sent_bytes_total', help: 'Bytes sent back to the accepting side (server → client direction)', labelNames: ['direction', 'port', 'peer'], registers }),
    connectionSeconds: new Histogram({
      name: 'ccmesh_proxy_connection_duration_seconds', help: 'Lifetime of connections counted open, from accept to close, by how they ended', labelNames: ['direction', 'port', 'result'], registers,
      buckets: CONNECTION_DURATION_BUCKETS,
    }),
    handshakeSeconds: new Histogram({
      name: 'ccmesh_proxy_tls_handshake_duration_seconds', help: 'TLS handshake duration', labelNames: ['direction', 'port'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    }),
    handshakeFailures: new Counter({ name: 'ccmesh_proxy_tls_handshake_failures_total', help: 'Refused or failed TLS handshakes and identity checks by reason', labelNames: ['direction', 'port', 'reason'], registers }),
    // Aggregators apply only to the `--workers` primary's aggregate: the earliest expiry, and ready only if all are.
    leafExpiry: new Gauge({ name: LEAF_EXPIRY_METRIC, help: 'notAfter of the leaf certificate in use', registers, aggregator: 'min' }),
    renewals: new Counter({ name: 'ccmesh_proxy_cert_renewals_total', help: 'Leaf renewal attempts by result', labelNames: ['result'], registers }),
    trustRefreshes: new Counter({ name: 'ccmesh_proxy_trust_bundle_polls_total', help: 'Mesh CA bundle polls by outcome (unchanged, adopted, renewing, failed)', labelNames: ['result'], registers }),
    credentialReloads: new Counter({ name: 'ccmesh_proxy_credential_reloads_total', help: 'Credential generations applied or rejected', labelNames: ['result'], registers }),
    credentialRefusals: new Counter({ name: 'ccmesh_proxy_credential_refusals_total', help: 'Credential generations refused, by where they came from (files, renewal, trust-refresh) and why (root-changed, foreign-ca, invalid)', labelNames: ['source', 'reason'], registers }),
    ready: new Gauge({ name: 'ccmesh_proxy_ready', help: '1 when /ready answers 200', registers, aggregator: 'min' }),
    tunnelStreams: new Counter({ name: 'ccmesh_proxy_tunnel_streams_total', help: 'Tunnel streams (one application connection each) by how they ended: ok, error, refused, retried', labelNames: ['direction', 'result'], registers }),
    tunnelStreamsOpen: new Gauge({ name: 'ccmesh_proxy_tunnel_streams_open', help: 'Tunnel streams open now', labelNames: ['direction'], registers }),
    tunnelConnections: new Gauge({ name: 'ccmesh_proxy_tunnel_connections', help: 'Pooled tunnel connections by state (active, draining)', labelNames: ['direction', 'state'], registers }),
    httpRequests: new Counter({ name: 'ccmesh_proxy_http_requests_total', help: 'L7 requests by the status class of their response (cancelled = ended before a response)', labelNames: ['direction', 'port', 'code_class'], registers }),
    httpSeconds: new Histogram({
      name: 'ccmesh_proxy_http_request_duration_seconds', help: 'L7 request duration, from the request head to the end of the response', labelNames: ['direction', 'port'], registers,
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 1, 5, 30, 300],
    }),
    tunnelRefusals: new Counter({ name: 'ccmesh_proxy_tunnel_stream_refusals_total', help: 'Tunnel streams the inbound side refused, by reason', labelNames: ['reason'], registers }),
    tunnelFallbacks: new Counter({ name: 'ccmesh_proxy_tunnel_fallbacks_total', help: 'Outbound connections carried over per-connection mTLS although the tunnel is on, by reason', labelNames: ['reason'], registers }),
    tunnelCloses: new Counter({ name: 'ccmesh_proxy_tunnel_connection_closes_total', help: 'Pooled tunnel connections retired or closed, by reason (rotated, untrusted, expired, drain-timeout)', labelNames: ['direction', 'reason'], registers }),
    appProbes: new Counter({ name: 'ccmesh_proxy_app_probe_total', help: 'Rewritten app probes run against the app on loopback, by the pinned probe (container, kind) and result (ok, status, unreachable, timeout)', labelNames: ['container', 'kind', 'result'], registers }),
    guardState: new Gauge({ name: 'ccmesh_proxy_guard_state', help: 'The inbound guard state as the sidecar knows it: 1 for the current state, 0 for the others', labelNames: ['state'], registers, aggregator: 'max' }),
  };
}

/** Sets the guard-state gauge: 1 for `state`, 0 for every other value of the closed set. */
export function setGuardState(m: ProxyMetrics, state: GuardState): void {
  for (const s of GUARD_STATES) m.guardState.labels(s).set(s === state ? 1 : 0);
}

/** The `code_class` values of `ccmesh_proxy_http_requests_total`. */
export const HTTP_CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'cancelled'] as const;
/** One of {@link HTTP_CODE_CLASSES}. */
export type HttpCodeClass = (typeof HTTP_CODE_CLASSES)[number];

/** Prebound L7 children of one (direction, port label). */
export interface HttpMetrics {
  /** Counts one request that ended with `cls`, started at performance.now() `startedAt`. */
  end(cls: HttpCodeClass, startedAt: number): void;
}

/** Binds the L7 children of `port` (a {@link PortMetrics.port} label, so bounded the same way). */
export function bindHttpMetrics(m: ProxyMetrics, direction: Direction, port: string): HttpMetrics {
  const byClass = new Map(HTTP_CODE_CLASSES.map((c) => [c, m.httpRequests.labels(direction, port, c)] as const));
  const seconds = m.httpSeconds.labels(direction, port);
  return {
    end: (cls, startedAt) => {
      byClass.get(cls)!.inc();
      seconds.observe((performance.now() - startedAt) / 1000);
    },
  };
}

/** Prebound children of one (direction, port, peer): what a connection adds to when it ends. */
export interface PeerMetrics {
  readonly result: Readonly<Record<ConnectionResult, { inc(): void }>>;
  readonly received: { inc(n: number): void };
  readonly sent: { inc(n: number): void };
}

/**
 * Prebound children of one (direction, port label). `result`, `received` and `sent` are the `peer="unknown"` children
 * (refusals, and connections without a verified identity); {@link PortMetrics.peer} gives a peer's own.
 */
export interface PortMetrics extends PeerMetrics {
  /** The `port` label value: the route port, or `other`. */
  readonly port: string;
  readonly open: { inc(): void; dec(): void };
  readonly handshake: { observe(seconds: number): void };
  readonly failure: Readonly<Record<HandshakeFailure, { inc(): void }>>;
  readonly duration: Readonly<Record<ConnectionResult, { observe(seconds: number): void }>>;
  /** The children of a peer label from {@link PeerLabels.of}; bound at its first use, then looked up. */
  peer(label: string): PeerMetrics;
}

/** The children of one direction: a connection picks its port's once, by its original destination port. */
export interface DirectionMetrics {
  /** The children of `port` (undefined or not a route port: `other`). */
  forPort(port: number | undefined): PortMetrics;
}

function bindPeer(m: ProxyMetrics, direction: Direction, port: string, peer: string): PeerMetrics {
  const result = {} as Record<ConnectionResult, { inc(): void }>;
  for (const r of CONNECTION_RESULTS) result[r] = m.connections.labels(direction, port, peer, r);
  return { result, received: m.receivedBytes.labels(direction, port, peer), sent: m.sentBytes.labels(direction, port, peer) };
}

function bindPort(m: ProxyMetrics, direction: Direction, port: string): PortMetrics {
  const failure = {} as Record<HandshakeFailure, { inc(): void }>;
  for (const r of HANDSHAKE_FAILURES) failure[r] = m.handshakeFailures.labels(direction, port, r);
  const duration = {} as Record<ConnectionResult, { observe(seconds: number): void }>;
  for (const r of CONNECTION_RESULTS) duration[r] = m.connectionSeconds.labels(direction, port, r);
  const unknown = bindPeer(m, direction, port, UNKNOWN_PEER);
  // Bounded by the PeerLabels cap (+1 for unknown): the labels come only from PeerLabels.of.
  const peers = new Map<string, PeerMetrics>([[UNKNOWN_PEER, unknown]]);
  return {
    ...unknown,
    port,
    open: m.open.labels(direction, port),
    handshake: m.handshakeSeconds.labels(direction, port),
    failure,
    duration,
    peer(label: string): PeerMetrics {
      let p = peers.get(label);
      if (p === undefined) {
        p = bindPeer(m, direction, port, label);
        peers.set(label, p);
      }
      return p;
    },
  };
}

/**
 * Binds the children of one direction once, at startup: one {@link PortMetrics} per route port and one for `other`.
 * SECURITY (cardinality): a port outside {@link TrafficLabels.ports} never becomes a label value of its own.
 */
export function bindDirectionMetrics(m: ProxyMetrics, direction: Direction): DirectionMetrics {
  const byPort = new Map<number, PortMetrics>();
  for (const p of m.traffic.ports) byPort.set(p, bindPort(m, direction, String(p)));
  const other = bindPort(m, direction, OTHER_PORT);
  return { forPort: (port) => (port === undefined ? other : byPort.get(port) ?? other) };
}

/** The metric children of one admitted connection, resolved once when it was admitted. */
export interface ConnectionMetrics {
  /** Its port's children (open, duration). */
  readonly port: PortMetrics;
  /** Its peer's children (result, bytes). */
  readonly peer: PeerMetrics;
  /** performance.now() at accept. */
  readonly startedAt: number;
}

/** Counts a connection that was counted open as ended with `result`: open, result and duration. */
export function endConnection(m: ConnectionMetrics, result: ConnectionResult): void {
  m.port.open.dec();
  m.peer.result[result].inc();
  m.port.duration[result].observe((performance.now() - m.startedAt) / 1000);
}
