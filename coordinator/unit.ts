/**
 * Builds and runs a Coordinator from its config and runtime: store, TLS identity, core, gRPC servers and the probe
 * server. Used by `ccmesh coordinator` and by in-process tests (which pass port 0 and a memory or temp store).
 */
import type { AttestLimits } from './core/attest-limiter.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { createRegistry, type Registry } from '../lib/metrics.js';
import type { EvidenceIssuer } from '../attestation/issuers/evidence.js';
import type { TdxCollateralProvider } from '../contract/attestation/tdx-collateral.js';
import { startProbeServer } from './admin/probe-server.js';
import { Coordinator, type ManifestParser } from './core/coordinator.js';
import { createCoordinatorMetrics } from './metrics.js';
import { listenFailed } from '../lib/net/listen-error.js';
import { startGrpcServers } from './server/grpc-servers.js';
import { PeerRecovery, type PeerRecoveryConfig } from './peer/peer-recovery.js';
import { observedStore } from './store/observed-store.js';
import type { Store } from './store/store.js';
import { createServerTlsIdentity } from './tls/ephemeral-tls-identity.js';

/** Live handles a Coordinator runs with. */
export interface CoordinatorUnitRuntime {
  readonly store: Store;
  readonly issuer: EvidenceIssuer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** TDX collateral for pods' quotes (`--tdx-collateral`, `--collateral-cache`); closed with the Coordinator. */
  readonly tdxCollateral?: TdxCollateralProvider;
  /** The manifest parser (default `parseManifest`); tests pass a counting wrapper. */
  readonly parseManifest?: ManifestParser;
  /** Per-client bound on nonce-consuming requests (default DEFAULT_NONCE_SPEND_LIMITS; the bench raises it). */
  readonly nonceSpendLimits?: AttestLimits;
  /** Interval of the periodic read of the store's `latest` besides its watch (default DEFAULT_HISTORY_SYNC_MS; tests shorten it). */
  readonly historySyncMs?: number;
  /** Peer recovery (`--peers`): where ready replicas are and how often to look; none = recovery by `ccmesh recover` only. */
  readonly peerRecovery?: PeerRecoveryConfig;
  /** Lifetime of operator certificates (`--operator-cert-lifetime`; default and maximum 1 h). */
  readonly operatorCertLifetimeMs?: number;
}

/** A running Coordinator. */
export interface RunningCoordinator {
  readonly core: Coordinator;
  readonly userPort: number;
  readonly meshPort: number;
  readonly metricsPort: number;
  readonly registry: Registry;
  /** Stops accepting, finishes in-flight RPCs (bounded), closes the store. */
  close(): Promise<void>;
}

/** Names of the three listeners in errors (the CLI passes its flag names). */
export interface ListenerNames {
  readonly user: string;
  readonly mesh: string;
  readonly metrics: string;
}

const DEFAULT_LISTENER_NAMES: ListenerNames = { user: 'the user API port', mesh: 'the mesh API port', metrics: 'the metrics port' };

/**
 * Starts a Coordinator listening on `listen`. When any step fails, what this function opened (listeners, the
 * store watch) is closed again before the error is thrown, so a failed start never leaves a half-open process;
 * the store and collateral the caller passed stay the caller's to close. Listen failures are LISTEN_FAILED errors
 * naming the listener by `names`.
 */
export async function startCoordinator(
  listen: { host: string; userPort: number; meshPort: number; metricsPort: number; names?: ListenerNames },
  rt: CoordinatorUnitRuntime,
): Promise<RunningCoordinator> {
  const names = listen.names ?? DEFAULT_LISTENER_NAMES;
  const registry = rt.registry ?? createRegistry({ processMetrics: true, defaultLabels: { component: 'coordinator' } });
  const metrics = createCoordinatorMetrics(registry);
  const tls = await createServerTlsIdentity(rt.clock, ['localhost', listen.host]);
  const store = observedStore(rt.store, (op, seconds, ok) => metrics.storeOperationSeconds.observe({ op, result: ok ? 'ok' : 'error' }, seconds));
  const core = new Coordinator({
    store, clock: rt.clock, logger: rt.logger, metrics, issuer: rt.issuer, tlsSpki: tls.spki,
    ...(rt.parseManifest ? { parseManifest: rt.parseManifest } : {}),
    ...(rt.nonceSpendLimits ? { nonceSpendLimits: rt.nonceSpendLimits } : {}),
    ...(rt.historySyncMs !== undefined ? { historySyncMs: rt.historySyncMs } : {}),
    ...(rt.operatorCertLifetimeMs !== undefined ? { operatorCertLifetimeMs: rt.operatorCertLifetimeMs } : {}),
    ...(rt.tdxCollateral ? { tdxCollateral: rt.tdxCollateral } : {}),
  });
  let started = false;
  const opened: (() => Promise<void> | void)[] = [];
  const closeOpened = async (): Promise<void> => {
    for (const close of opened.reverse()) await Promise.resolve(close()).catch(() => undefined);
  };
  try {
    const probes = await startProbeServer(listen.host, listen.metricsPort, { started: () => started, ready: () => core.serving, stateName: () => core.readinessState }, registry)
      .catch((err: unknown) => { throw listenFailed(names.metrics, listen.host, listen.metricsPort, err); });
    opened.push(() => probes.close());
    opened.push(() => core.stop());
    await core.start();
    const servers = await startGrpcServers(core, tls, listen, rt.logger, metrics, { user: names.user, mesh: names.mesh }, (close) => opened.push(close));
    const peers = rt.peerRecovery && rt.peerRecovery.peers.length > 0 ? new PeerRecovery(rt.peerRecovery, { core, logger: rt.logger, metrics }) : undefined;
    peers?.start();
    started = true;
    rt.logger.info('coordinator listening', { userPort: servers.user.port, meshPort: servers.mesh.port, metricsPort: probes.port, tlsFingerprint: tls.fingerprint, state: core.state });
    return {
      core,
      userPort: servers.user.port,
      meshPort: servers.mesh.port,
      metricsPort: probes.port,
      registry,
      close: async () => {
        await peers?.stop();
        await Promise.all([servers.user.close(), servers.mesh.close()]);
        await probes.close();
        core.stop();
        await rt.store.close();
        await rt.tdxCollateral?.close?.();
      },
    };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}
