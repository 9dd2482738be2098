/**
 * The golden list of every metric family ccmesh exposes, with its type and its label names, and for each label the
 * values it may take. Written by hand from the code (proxy/metrics.ts, coordinator/metrics.ts,
 * attestation/fetch/*, k8s/webhook/metrics.ts, lib/metrics.ts and prom-client's default metrics on Node 20), never
 * generated from it: renaming a family or a label, or adding one, fails `families.test.ts` until this list (and
 * docs/metrics.md, which the same test reads) is changed with it.
 *
 * Label values must stay bounded: a label is either a closed list written out here, a route port number from the
 * sidecar's configuration or `other` ({@link PORT}), a container of the sidecar's pod from its configuration
 * ({@link CONTAINER}), a name the Node.js runtime chooses from its own small set ({@link RUNTIME}), or — the one exception to "nothing derived from a peer" — the `peer` label ({@link PEER}), whose
 * values are workload ids of verified mesh leaves, capped per process (proxy/transport/peer-label.ts). No other
 * address, SAN or workload of a peer may become a label: see {@link LABEL_ALLOW_LIST}, {@link IDENTITY_LABELS} and
 * {@link FORBIDDEN_LABEL}.
 */

/**
 * A label whose value is a route port from the sidecar's configuration (an ingress entry's port, an egress entry's
 * remote port, `--egress-ports`), or `other` for any other original destination port.
 */
export const PORT = 'port-number';
/**
 * The workload id of a verified mesh leaf (`spiffe://<trust-domain>/<id>` → `<id>`), at most MAX_PEER_LABELS of them
 * per process, else `unknown`.
 */
export const PEER = 'peer-workload';
/** A label whose value Node.js or V8 chooses (resource types, heap spaces, GC kinds, its own version). */
export const RUNTIME = 'runtime-defined';
/**
 * A container name of the sidecar's own pod, from its pinned `--app-probe` configuration (a DNS label; one probe per
 * container and kind): bounded by the pod spec the injector read, never taken from a request.
 */
export const CONTAINER = 'pod-container';

/** What values a label may take. */
export type LabelValues = readonly string[] | typeof PORT | typeof PEER | typeof RUNTIME | typeof CONTAINER;

/** One metric family: its Prometheus type and its own labels (the `component` default label comes on top). */
export interface GoldenFamily {
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labels: Readonly<Record<string, LabelValues>>;
}

/** Families by name. */
export type GoldenFamilies = Readonly<Record<string, GoldenFamily>>;

/** The default label every series of a ccmesh process carries, and its value per process. */
export const COMPONENT_LABEL = 'component';

/**
 * Label names a family may use. Each has a closed or runtime-bounded set of values; a new label name needs a
 * reason to be bounded before it is added here.
 */
export const LABEL_ALLOW_LIST: readonly string[] = [
  COMPONENT_LABEL, 'direction', 'port', 'result', 'reason', 'state', 'service', 'method', 'code', 'kind', 'limit', 'source',
  // the Coordinator's store operations: get, compare_and_swap, list
  'op',
  // the sidecar's L7 requests by status class (1xx … 5xx, cancelled)
  'code_class',
  // the sidecar's app probes: a container of its own pod, from its pinned --app-probe configuration
  'container',
  // prom-client's default (process) metrics
  'type', 'space', 'version', 'major', 'minor', 'patch',
];

/**
 * Label names that name a peer and are allowed anyway, each because its values are bounded by something other than
 * the wire (see {@link PEER}); each must use the {@link PEER} rule.
 */
export const IDENTITY_LABELS: readonly string[] = ['peer'];

/** Label names that would carry one series per peer: never allowed, whatever the allow-list says (but {@link IDENTITY_LABELS}). */
export const FORBIDDEN_LABEL = /(^|_)(peer|ip|ipv4|ipv6|address|addr|remote|host|hostname|client|san|spiffe|workload|pod|nonce|serial)(_|$)/i;

const DIRECTION = ['inbound', 'outbound'];
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** The sidecar (`ccmesh proxy`), component="proxy". */
export const PROXY_FAMILIES: GoldenFamilies = {
  ccmesh_proxy_connections_open: { type: 'gauge', labels: { direction: DIRECTION, port: PORT } },
  ccmesh_proxy_connections_total: { type: 'counter', labels: { direction: DIRECTION, port: PORT, peer: PEER, result: ['ok', 'refused', 'upstream-error', 'error'] } },
  ccmesh_proxy_received_bytes_total: { type: 'counter', labels: { direction: DIRECTION, port: PORT, peer: PEER } },
  ccmesh_proxy_sent_bytes_total: { type: 'counter', labels: { direction: DIRECTION, port: PORT, peer: PEER } },
  ccmesh_proxy_connection_duration_seconds: { type: 'histogram', labels: { direction: DIRECTION, port: PORT, result: ['ok', 'refused', 'upstream-error', 'error'] } },
  ccmesh_proxy_tls_handshake_duration_seconds: { type: 'histogram', labels: { direction: DIRECTION, port: PORT } },
  ccmesh_proxy_tls_handshake_failures_total: {
    type: 'counter',
    labels: {
      direction: DIRECTION,
      port: PORT,
      reason: [
        'no-client-cert', 'untrusted-cert', 'cert-expired', 'san-not-allowed', 'not-tls', 'handshake-timeout', 'handshake-error',
        'server-untrusted', 'server-san-mismatch', 'upstream-connect', 'port-not-served', 'too-many-handshakes', 'too-many-from-source',
        'too-many-connections', 'operator-not-allowed',
      ],
    },
  },
  ccmesh_proxy_handshakes_pending: { type: 'gauge', labels: {} },
  ccmesh_proxy_leaf_expiry_timestamp_seconds: { type: 'gauge', labels: {} },
  ccmesh_proxy_cert_renewals_total: { type: 'counter', labels: { result: ['success', 'failure', 'evidence-required'] } },
  ccmesh_proxy_trust_bundle_polls_total: { type: 'counter', labels: { result: ['unchanged', 'adopted', 'renewing', 'failed'] } },
  ccmesh_proxy_credential_reloads_total: { type: 'counter', labels: { result: ['applied', 'rejected'] } },
  ccmesh_proxy_credential_refusals_total: { type: 'counter', labels: { source: ['files', 'renewal', 'trust-refresh'], reason: ['root-changed', 'foreign-ca', 'identity-changed', 'invalid'] } },
  ccmesh_proxy_ready: { type: 'gauge', labels: {} },
  ccmesh_proxy_guard_state: { type: 'gauge', labels: { state: ['unmanaged', 'installed', 'lifted', 'install-failed'] } },
  ccmesh_proxy_tunnel_streams_total: { type: 'counter', labels: { direction: DIRECTION, result: ['ok', 'error', 'refused', 'retried'] } },
  ccmesh_proxy_tunnel_streams_open: { type: 'gauge', labels: { direction: DIRECTION } },
  ccmesh_proxy_tunnel_connections: { type: 'gauge', labels: { direction: DIRECTION, state: ['active', 'draining'] } },
  ccmesh_proxy_tunnel_stream_refusals_total: { type: 'counter', labels: { reason: ['port-not-served', 'san-not-allowed', 'identity-expired', 'bad-request', 'app-connect', 'too-many-connections', 'not-http-port'] } },
  ccmesh_proxy_http_requests_total: { type: 'counter', labels: { direction: DIRECTION, port: PORT, code_class: ['1xx', '2xx', '3xx', '4xx', '5xx', 'cancelled'] } },
  ccmesh_proxy_http_request_duration_seconds: { type: 'histogram', labels: { direction: DIRECTION, port: PORT } },
  ccmesh_proxy_tunnel_fallbacks_total: { type: 'counter', labels: { reason: ['peer-without-tunnel', 'pool-full'] } },
  ccmesh_proxy_tunnel_connection_closes_total: { type: 'counter', labels: { direction: DIRECTION, reason: ['rotated', 'untrusted', 'expired', 'drain-timeout'] } },
  ccmesh_proxy_app_probe_total: { type: 'counter', labels: { container: CONTAINER, kind: ['startup', 'liveness', 'readiness'], result: ['ok', 'status', 'unreachable', 'timeout'] } },
};

/** The Coordinator (`ccmesh coordinator`), component="coordinator". */
export const COORDINATOR_FAMILIES: GoldenFamilies = {
  ccmesh_coordinator_rpc_handled_total: {
    type: 'counter',
    labels: {
      service: ['UserAPI', 'MeshAPI'],
      method: ['GetNonce', 'Attest', 'SetManifest', 'GetManifests', 'Recover', 'NewMeshCert', 'RenewMeshCert', 'GetTrustBundle', 'ShareSeed'],
      code: GRPC_CODES,
    },
  },
  ccmesh_coordinator_attestation_failures_total: { type: 'counter', labels: { reason: ['nonce', 'malformed', 'evidence', 'binding', 'policy', 'reference', 'signature', 'unauthorized', 'state'] } },
  ccmesh_coordinator_manifest_generation: { type: 'gauge', labels: {} },
  ccmesh_coordinator_state: { type: 'gauge', labels: { state: ['fresh', 'recovery', 'ready'] } },
  ccmesh_coordinator_issuance_duration_seconds: { type: 'histogram', labels: { kind: ['new', 'renew'] } },
  ccmesh_coordinator_certificates_issued_total: { type: 'counter', labels: { kind: ['new', 'renew'] } },
  ccmesh_coordinator_load_shed_total: { type: 'counter', labels: { limit: ['attest_per_client', 'attest_overall', 'consumed_nonces', 'held_requests', 'incomplete_request'] } },
  ccmesh_coordinator_store_operation_seconds: { type: 'histogram', labels: { op: ['get', 'compare_and_swap', 'list'], result: ['ok', 'error'] } },
  ccmesh_coordinator_history_sync_age_seconds: { type: 'gauge', labels: {} },
  ccmesh_coordinator_history_rollback_refusals_total: { type: 'counter', labels: { reason: ['older', 'diverged', 'unverified'] } },
  ccmesh_coordinator_operator_certificates_total: { type: 'counter', labels: { result: ['issued', 'not_owner', 'bad_signature', 'bad_nonce', 'refused'] } },
  ccmesh_coordinator_peer_recoveries_total: { type: 'counter', labels: { result: ['recovered', 'unreachable', 'refused', 'untrusted_peer', 'bad_answer', 'seed_mismatch', 'error'] } },
};

const COLLATERAL_KINDS = ['amd-vek', 'amd-chain', 'amd-crl', 'intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-crl'];
const FETCH_SOURCES = ['amd_kds', 'intel_pcs'];

/**
 * The Coordinator's collateral families, component="coordinator": the cache lookups with `--collateral-cache`, the
 * fetches with `--fetch-collateral` too. Absent otherwise.
 */
export const COLLATERAL_FAMILIES: GoldenFamilies = {
  ccmesh_attest_collateral_cache_lookups_total: { type: 'counter', labels: { kind: COLLATERAL_KINDS, result: ['hit', 'miss', 'stale', 'corrupt', 'stale_on_error'] } },
  ccmesh_attest_collateral_fetch_total: { type: 'counter', labels: { source: FETCH_SOURCES, result: ['ok', 'http_error', 'throttled', 'network_error', 'timeout', 'too_large', 'aborted'] } },
  ccmesh_attest_collateral_fetch_seconds: { type: 'histogram', labels: { source: FETCH_SOURCES } },
};

/** The admission webhook (`ccmesh injector`), component="injector". */
export const INJECTOR_FAMILIES: GoldenFamilies = {
  ccmesh_injector_requests_total: { type: 'counter', labels: { result: ['injected', 'unchanged', 'pinned', 'skipped', 'refused', 'policy-refused', 'malformed', 'error'] } },
  ccmesh_injector_request_duration_seconds: { type: 'histogram', labels: {} },
  ccmesh_injector_ca_bundle_patches_total: { type: 'counter', labels: { result: ['ok', 'unchanged', 'error'] } },
  ccmesh_injector_ready: { type: 'gauge', labels: {} },
  ccmesh_injector_serving_cert_renewals_total: { type: 'counter', labels: { result: ['ok', 'error'] } },
  ccmesh_injector_serving_ca_rotations_total: { type: 'counter', labels: {} },
  ccmesh_injector_serving_cert_expiry_timestamp_seconds: { type: 'gauge', labels: {} },
};

/** prom-client's default metrics on Node 20 / Linux, as every long-running ccmesh process registers them (prefix `ccmesh_`). */
export const PROCESS_FAMILIES: GoldenFamilies = {
  process_cpu_user_seconds_total: { type: 'counter', labels: {} },
  process_cpu_system_seconds_total: { type: 'counter', labels: {} },
  process_cpu_seconds_total: { type: 'counter', labels: {} },
  process_start_time_seconds: { type: 'gauge', labels: {} },
  process_resident_memory_bytes: { type: 'gauge', labels: {} },
  process_virtual_memory_bytes: { type: 'gauge', labels: {} },
  process_heap_bytes: { type: 'gauge', labels: {} },
  process_open_fds: { type: 'gauge', labels: {} },
  process_max_fds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_min_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_max_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_mean_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_stddev_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_p50_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_p90_seconds: { type: 'gauge', labels: {} },
  nodejs_eventloop_lag_p99_seconds: { type: 'gauge', labels: {} },
  nodejs_active_resources: { type: 'gauge', labels: { type: RUNTIME } },
  nodejs_active_resources_total: { type: 'gauge', labels: {} },
  nodejs_active_handles: { type: 'gauge', labels: { type: RUNTIME } },
  nodejs_active_handles_total: { type: 'gauge', labels: {} },
  nodejs_active_requests: { type: 'gauge', labels: { type: RUNTIME } },
  nodejs_active_requests_total: { type: 'gauge', labels: {} },
  nodejs_heap_size_total_bytes: { type: 'gauge', labels: {} },
  nodejs_heap_size_used_bytes: { type: 'gauge', labels: {} },
  nodejs_external_memory_bytes: { type: 'gauge', labels: {} },
  nodejs_heap_space_size_total_bytes: { type: 'gauge', labels: { space: RUNTIME } },
  nodejs_heap_space_size_used_bytes: { type: 'gauge', labels: { space: RUNTIME } },
  nodejs_heap_space_size_available_bytes: { type: 'gauge', labels: { space: RUNTIME } },
  nodejs_version_info: { type: 'gauge', labels: { version: RUNTIME, major: RUNTIME, minor: RUNTIME, patch: RUNTIME } },
  nodejs_gc_duration_seconds: { type: 'histogram', labels: { kind: ['major', 'minor', 'incremental', 'weakcb'] } },
};

/** Every family by name, whichever process exposes it. */
export const ALL_FAMILIES: GoldenFamilies = { ...PROXY_FAMILIES, ...COORDINATOR_FAMILIES, ...COLLATERAL_FAMILIES, ...INJECTOR_FAMILIES, ...PROCESS_FAMILIES };

/**
 * The family a sample name belongs to: a histogram's `_bucket`, `_sum` and `_count` series belong to the
 * histogram; anything else is its own family. Undefined when no golden family matches.
 */
export function familyOf(sample: string): string | undefined {
  if (Object.hasOwn(ALL_FAMILIES, sample)) return sample;
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample);
  return m && ALL_FAMILIES[m[1]!]?.type === 'histogram' ? m[1] : undefined;
}

/**
 * Whether `value` is allowed for a label whose rule is `rule` (ports: 1-65535 or `other`; peers: `unknown` or a SPIFFE
 * path of at most 253 characters; runtime names: short words; containers: DNS labels).
 */
export function allowedValue(rule: LabelValues, value: string): boolean {
  if (rule === CONTAINER) return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value);
  if (rule === PORT) return value === 'other' || (/^[1-9]\d{0,4}$/.test(value) && Number(value) <= 65535);
  if (rule === PEER) return value === 'unknown' || (value.length <= 253 && /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(value));
  if (rule === RUNTIME) return /^[\w.-]{1,64}$/.test(value);
  return rule.includes(value);
}
