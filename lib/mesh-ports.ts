/**
 * The mesh's TCP ports and the HTTP paths of its admin ports: what the sidecar, iptables, the injector, the chart and
 * the tests must agree on. Define each exactly once here; everything else imports it.
 */

/** TCP ports of the mesh (docs/design.md §5). */
export const PORTS = Object.freeze({
  /** Inbound mTLS listener that captured traffic is redirected to. */
  inboundMtls: 15006,
  /** Inbound TLS-only (server-auth) listener. */
  inboundTls: 15007,
  /** Transparent outbound capture listener. */
  outbound: 15001,
  /** Sidecar admin: /live, /ready, /metrics. */
  sidecarAdmin: 15020,
  /** Coordinator user API (manifest set/get, recovery). */
  coordinatorUser: 1313,
  /** Coordinator mesh API (pods obtain certificates). */
  coordinatorMesh: 7777,
  /** Coordinator probes and metrics. */
  coordinatorMetrics: 9102,
  /** Sidecar-injection admission webhook (HTTPS). */
  injectorWebhook: 9443,
  /** Injector probes and metrics (plain HTTP, separate from the webhook's TLS port). */
  injectorMetrics: 9103,
});

/**
 * HTTP paths of the probe + metrics port of the Coordinator (and of the injector): the install manifests and the
 * Helm chart point kubelet probes and Prometheus at these.
 */
export const ADMIN_HTTP_PATHS = Object.freeze({
  startupProbe: '/probe/startup',
  livenessProbe: '/probe/liveness',
  readinessProbe: '/probe/readiness',
  metrics: '/metrics',
});

/** HTTP paths of the sidecar proxy's admin port (the injector points the sidecar's kubelet probes at them). */
export const SIDECAR_ADMIN_PATHS = Object.freeze({
  live: '/live',
  ready: '/ready',
  metrics: '/metrics',
});
