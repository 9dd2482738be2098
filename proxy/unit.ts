/**
 * Builds and runs the sidecar from its config and runtime, in the order of docs/design.md §4:
 *   load credentials → admin server (unready) → listeners → [transparent listeners → apply rules → verify →
 *   drop pre-existing → lift guard] → ready file → ready → watch credentials, renewal, [watchdog].
 * The bracketed stages run only in capture mode: the transparent listeners are the proxy's own, the rest come
 * from {@link TransparentHooks}; with `--no-iptables` they are skipped. `drain()` is the
 * SIGTERM path: unready, stop accepting, let connections finish up to the grace period, destroy the rest.
 */
import { writeFile } from 'node:fs/promises';
import type { EvidenceIssuer } from '../attestation/issuers/evidence.js';
import type { Clock } from '../lib/clock.js';
import { installLeanAsyncBind } from '../lib/process/async-bind.js';
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { createRegistry, type Registry } from '../lib/metrics.js';
import { startAdminServer, type MetricsSource, type RunningAdmin } from './admin/server.js';
import type { ProxyConfig } from './config.js';
import { RenewalLoop, type MeshClient } from './credentials/renewal.js';
import { CredentialScheduler } from './credentials/scheduler.js';
import { TrustRefresh } from './credentials/trust-refresh.js';
import { CredentialStore, type CredentialWatchOptions } from './credentials/store.js';
import type { DataPathOptions } from './transport/options.js';
import { ConnectionTracker } from './transport/tracker.js';
import { startInboundListener, type RunningListener } from './inbound/accept.js';
import { HandshakeAdmission } from './inbound/admission.js';
import { startTransparentInbound } from './inbound/transparent.js';
import { egressLoopbackPorts } from './config.js';
import { createProxyMetrics, setGuardState, type ProxyMetrics } from './metrics.js';
import { MAX_PEER_LABELS, PeerLabels } from './transport/peer-label.js';
import { startEgressListener } from './outbound/egress.js';
import { startTransparentOutbound } from './outbound/transparent.js';
import type { TransparentHooks } from './startup/hooks.js';
import { systemTimers, type Timers } from './timers.js';
import { TunnelServer } from './tunnel/server.js';

/** Live handles the proxy runs with. */
export interface ProxyRuntime {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly timers?: Timers;
  readonly registry?: Registry;
  /** Opens a pinned mesh-API client; required when `config.coordinator` is set. */
  readonly connectCoordinator?: () => Promise<MeshClient>;
  /** Builds the evidence issuer for renewals that need fresh evidence; required when `config.renewalTee` is set. */
  readonly renewalIssuer?: () => Promise<EvidenceIssuer>;
  /** The transparent-capture stages; required unless `config.noIptables`. */
  readonly hooks?: TransparentHooks;
  readonly watch?: CredentialWatchOptions;
  readonly random?: () => number;
  /**
   * A `--workers` worker: listeners only. No admin server (the primary serves admin for all) and, in capture mode,
   * no iptables stages (the primary runs them once every worker listens).
   */
  readonly worker?: boolean;
  /**
   * A `--workers` worker: the SHA-256 fingerprint of the root its primary pinned. The worker refuses to start from a
   * TLS directory under another root (one swapped in after the primary started).
   */
  readonly rootFingerprint?: string;
  /** `--workers` primary: an extra /ready condition (every worker ready). */
  readonly extraNotReady?: () => string | undefined;
  /**
   * `--workers` primary: a stage run after the listeners and before the iptables stages (fork the workers, handing
   * them the store's pinned root).
   */
  readonly workersStage?: (store: CredentialStore) => Promise<void>;
  /** What /metrics serves; default the registry (the `--workers` primary serves the aggregate). */
  readonly metricsSource?: MetricsSource;
}

/** A running sidecar. */
export interface RunningProxy {
  /** The admin port; 0 when the runtime has no admin server (a `--workers` worker). */
  readonly adminPort: number;
  /** Bound ports by listener name (inbound entries by ingress name, egress by egress name). */
  readonly ports: ReadonlyMap<string, number>;
  readonly store: CredentialStore;
  readonly renewal: RenewalLoop | undefined;
  readonly trustRefresh: TrustRefresh | undefined;
  readonly metrics: ProxyMetrics;
  readonly registry: Registry;
  readonly tracker: ConnectionTracker;
  /** SIGTERM: unready, stop accepting, wait up to `drainMs`, destroy the rest, stop everything. */
  drain(): Promise<{ clean: boolean }>;
}

/** Readiness margin: /ready fails once less than this share of the leaf's life is left while renewal is failing. */
const EXPIRY_MARGIN = 0.1;

/** Starts the sidecar; throws (after cleaning up) if any stage fails. */
export async function startProxy(cfg: ProxyConfig, rt: ProxyRuntime): Promise<RunningProxy> {
  if (!cfg.noIptables && !rt.hooks && !rt.worker) throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, 'transparent mode needs the iptables stages; none were supplied (use --no-iptables for explicit listeners)');
  if (!cfg.noIptables && !cfg.transparent && !rt.workersStage) throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, 'transparent mode needs the transparent listener settings; none were configured');
  if (cfg.coordinator && !rt.connectCoordinator) throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, 'a Coordinator is configured but no mesh-API client factory was supplied');
  if (cfg.renewalTee && !rt.renewalIssuer) throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, 'a renewal evidence issuer (--tee) is configured but no issuer factory was supplied');
  // Node 20's AsyncResource.bind costs every tunnel stream and L7 request two deprecate() wrappers (lib/process/async-bind.ts).
  installLeanAsyncBind();
  const timers = rt.timers ?? systemTimers;
  const registry = rt.registry ?? createRegistry({ processMetrics: true, defaultLabels: { component: 'proxy' } });
  const admission = new HandshakeAdmission({ maxHandshakes: cfg.maxHandshakes, maxUnauthenticatedPerSource: cfg.maxUnauthenticatedPerSource });
  const metrics = createProxyMetrics(registry, { pendingHandshakes: () => admission.pending, routePorts: routePorts(cfg), peers: new PeerLabels(MAX_PEER_LABELS, (max) => rt.logger.warn('peer label limit reached; further workload identities are counted as peer="unknown"', { max })) });
  // In capture mode the initializer's guard is in place until the sidecar lifts it (docs/design.md §4.1).
  setGuardState(metrics, cfg.noIptables ? 'unmanaged' : 'installed');
  const logger = rt.logger;
  const tracker = new ConnectionTracker();
  const state = { listening: false, ready: false, draining: false, drift: undefined as string | undefined };
  const listeners: { stopAccepting(): Promise<void> }[] = [];
  const ports = new Map<string, number>();
  let admin: RunningAdmin | undefined;
  let credentialTimers: CredentialScheduler | undefined;
  let renewal: RenewalLoop | undefined;
  let trustRefresh: TrustRefresh | undefined;
  let watchdog: { stop(): void } | undefined;
  let tunnel: TunnelServer | undefined;

  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = rt.clock.nowMs();
    try {
      const out = await fn();
      logger.info('startup stage done', { stage: name, ms: rt.clock.nowMs() - t0 });
      return out;
    } catch (err) {
      if (err instanceof CcmeshError) throw err;
      throw new CcmeshError(ErrorCode.PROXY_STARTUP_FAILED, `startup stage "${name}": ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };

  const store = await stage('load credentials', () => CredentialStore.load(cfg.tlsDir, { clock: rt.clock, timers, logger, metrics }, rt.rootFingerprint === undefined ? {} : { rootFingerprint: rt.rootFingerprint }));
  const notReadyReason = (): string | undefined => {
    if (state.draining) return 'draining';
    if (!state.ready) return state.listening ? 'starting' : 'no listeners';
    if (state.drift !== undefined) return 'iptables drift';
    const extra = rt.extraNotReady?.();
    if (extra !== undefined) return extra;
    const g = store.current;
    const now = rt.clock.nowMs();
    if (now >= g.notAfterMs) return 'leaf expired';
    if (renewal?.failing && g.notAfterMs - now < (g.notAfterMs - g.notBeforeMs) * EXPIRY_MARGIN) return 'leaf near expiry and renewal failing';
    return undefined;
  };
  const stopAll = async (): Promise<void> => {
    watchdog?.stop();
    await credentialTimers?.stop();
    store.close();
    await Promise.all(listeners.map((l) => l.stopAccepting()));
    await admin?.close();
  };

  try {
    if (!rt.worker) admin = await stage('admin server', () => startAdminServer(cfg.adminHost, cfg.adminPort, { notReadyReason }, rt.metricsSource ?? registry, cfg.appProbes, undefined, metrics.appProbes));
    const options: DataPathOptions = { idleTimeoutMs: cfg.idleTimeoutMs, handshakeTimeoutMs: cfg.handshakeTimeoutMs, maxConnections: cfg.maxConnections, tunnel: cfg.tunnel };
    tunnel = cfg.tunnel.enabled ? new TunnelServer(cfg.tunnel, cfg.idleTimeoutMs, { store, metrics, tracker, logger, clock: rt.clock }) : undefined;
    const data = { store, metrics, tracker, logger, clock: rt.clock, admission, tunnel };
    await stage('listeners', async () => {
      for (const l of cfg.inbound) {
        const running: RunningListener = await startInboundListener(l, cfg.listenHost, options, data);
        listeners.push(running);
        ports.set(l.name, running.port);
      }
      for (const e of cfg.egress) {
        const running = await startEgressListener(e, options, data);
        listeners.push(running);
        ports.set(e.name, running.port);
      }
    });
    const hooks = cfg.noIptables ? {} : (rt.hooks ?? {});
    const transparent = cfg.noIptables ? undefined : cfg.transparent;
    if (transparent) {
      await stage('transparent listeners', async () => {
        // SECURITY: the egress listeners on 127.0.0.1 (their bound ports) are never an inbound route: a mesh peer
        // reaching one would make this sidecar dial the remote with this pod's leaf.
        const ownPorts = [...new Set([...transparent.ownPorts, ...egressLoopbackPorts(cfg.egress, (e) => ports.get(e.name) ?? e.listen.port)])];
        for (const running of await startTransparentInbound({ ...transparent, ownPorts }, options, data)) {
          listeners.push(running);
          ports.set(running.name, running.port);
        }
        if (cfg.transparentOutbound) {
          const running = await startTransparentOutbound(cfg.transparentOutbound, options, data);
          listeners.push(running);
          ports.set(running.name, running.port);
        }
      });
    }
    const workersStage = rt.workersStage;
    if (workersStage) await stage('workers', () => workersStage(store));
    state.listening = true;
    if (hooks.applyRules) await stage('apply rules', hooks.applyRules);
    if (hooks.verifyRules) await stage('verify rules', hooks.verifyRules);
    if (hooks.dropPreexisting) await stage('drop pre-existing connections', hooks.dropPreexisting);
    if (hooks.liftGuard) {
      await stage('lift guard', hooks.liftGuard);
      setGuardState(metrics, 'lifted');
    }
    if (cfg.readyFile !== undefined) await stage('ready file', () => writeFile(cfg.readyFile!, `${new Date(rt.clock.nowMs()).toISOString()}\n`, { mode: 0o644 }));
    state.ready = true;
    metrics.ready.set(1);
    store.startWatching(rt.watch);
    if (cfg.coordinator && rt.connectCoordinator) {
      // Renewal and trust refresh: two jobs of one timer loop, stopped together.
      credentialTimers = new CredentialScheduler({ timers, clock: rt.clock });
      renewal = new RenewalLoop({
        store, connect: rt.connectCoordinator, clock: rt.clock, scheduler: credentialTimers, logger, metrics,
        ...(rt.random ? { random: rt.random } : {}),
        ...(rt.renewalIssuer ? { issuer: rt.renewalIssuer } : {}),
      });
      renewal.start();
      if (cfg.trustRefreshMs > 0) {
        trustRefresh = new TrustRefresh({ store, renewal, connect: rt.connectCoordinator, scheduler: credentialTimers, logger, metrics }, cfg.trustRefreshMs);
        trustRefresh.start();
      }
    }
    if (hooks.startWatchdog) {
      watchdog = hooks.startWatchdog({
        drift: (reason) => {
          // Unready for good: only a restart (re-apply, verify, lift) may open the pod again.
          if (state.drift === undefined) logger.error('iptables drift; guard re-installed, unready', { reason });
          state.drift = reason;
          metrics.ready.set(0);
        },
        guard: (g) => setGuardState(metrics, g),
      });
    }
  } catch (err) {
    await stopAll().catch((e: unknown) => logger.error('cleanup after failed startup failed', { err: e }));
    tracker.destroyAll();
    throw err;
  }
  logger.info('proxy ready', { adminPort: admin?.port, listeners: Object.fromEntries(ports), mode: cfg.noIptables ? 'explicit' : 'transparent' });

  return {
    adminPort: admin?.port ?? 0,
    ports,
    store,
    renewal,
    trustRefresh,
    metrics,
    registry,
    tracker,
    drain: async () => {
      state.draining = true;
      metrics.ready.set(0);
      logger.info('draining', { open: tracker.size, graceMs: cfg.drainMs });
      const closing = Promise.all(listeners.map((l) => l.stopAccepting()));
      tunnel?.close();
      const clean = await tracker.drain(cfg.drainMs);
      await closing;
      await stopAll();
      logger.info('drained', { clean });
      return { clean };
    },
  };
}

/**
 * The ports the traffic metrics label by number (docs/metrics.md): every ingress entry's port (the app port a peer
 * dials; also an explicit listener's APP port), every egress entry's remote port and `--egress-ports`. Any other
 * original destination port is `other`, so the series count does not grow with what peers or the app dial.
 */
export function routePorts(cfg: ProxyConfig): number[] {
  const ports = new Set<number>();
  for (const l of cfg.inbound) ports.add(l.appPort);
  for (const e of cfg.transparent?.entries ?? []) ports.add(e.port);
  for (const e of cfg.egress) ports.add(e.remote.port);
  for (const p of cfg.transparentOutbound?.capturedPorts ?? []) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}
