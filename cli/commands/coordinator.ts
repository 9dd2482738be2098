/**
 * `ccmesh coordinator`: parse flags → open the store → choose the evidence issuer → start the APIs → wait for
 * SIGINT/SIGTERM → drain → exit. Configuration errors exit 64 with every problem listed.
 */
import { CachingCollateralSource, defaultCollateralCacheSettings } from '../../attestation/fetch/caching-collateral-source.js';
import type { CollateralSource } from '../../attestation/fetch/collateral-source.js';
import { DisabledCollateralSource } from '../../attestation/fetch/disabled-collateral-source.js';
import { buildHttpCollateralConfig, HttpCollateralSource } from '../../attestation/fetch/http-collateral-source.js';
import { createIssuer } from '../../attestation/issuers/select.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { DirectoryTdxCollateral, SourcedTdxCollateral, type TdxCollateralProvider } from '../../contract/attestation/tdx-collateral.js';
import { COORDINATOR_FLAGS, COORDINATOR_USAGE, type CoordinatorConfig, readCoordinatorConfig, type TdxCollateralConfig } from '../../coordinator/config.js';
import { EtcdStore } from '../../coordinator/store/etcd-store.js';
import { FileStore } from '../../coordinator/store/file-store.js';
import { MemoryStore } from '../../coordinator/store/memory-store.js';
import type { Store } from '../../coordinator/store/store.js';
import { type RunningCoordinator, startCoordinator } from '../../coordinator/unit.js';
import { type Clock, systemClock } from '../../lib/clock.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { createRegistry, type Registry } from '../../lib/metrics.js';
import { EXIT } from '../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';
import { writingUserPath } from '../user-paths.js';
import { forbidDumpsOrWarn } from '../../lib/process/dumpable.js';

/** Runs the Coordinator until the process is signalled. */
export async function coordinatorCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(COORDINATOR_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('coordinator', argv, COORDINATOR_FLAGS);
  const cfg = readCoordinatorConfig(r);
  r.finish();
  const logger = createLogger({ component: 'coordinator', level: cfg.logLevel, sink: (line) => io.stderr(line + '\n') });
  await forbidDumpsOrWarn(logger);
  const issuer = await createIssuer(cfg.tee, {}, { logger, simulated: () => SimulatedSnpIssuer.load(cfg.simDir!) });
  const registry = createRegistry({ processMetrics: true, defaultLabels: { component: 'coordinator' } });
  // What is opened here is closed again when a later step fails: a failed start exits instead of hanging on an
  // open store, collateral watch or listener.
  const tdxCollateral = await buildTdxCollateral(cfg.tdxCollateral, { clock: systemClock, logger, registry });
  let store: Store | undefined;
  let running: RunningCoordinator;
  try {
    store = await openStore(cfg.store, logger);
    running = await startCoordinator(
      { host: cfg.listenHost, userPort: cfg.userPort, meshPort: cfg.meshPort, metricsPort: cfg.metricsPort, names: { user: '--user-port', mesh: '--mesh-port', metrics: '--metrics-port' } },
      { store, issuer, clock: systemClock, logger, registry, operatorCertLifetimeMs: cfg.operatorCertLifetimeMs, ...(tdxCollateral ? { tdxCollateral } : {}), ...(cfg.peers.length > 0 ? { peerRecovery: { peers: cfg.peers } } : {}) },
    );
  } catch (err) {
    await store?.close().catch(() => undefined);
    await tdxCollateral?.close?.()?.catch(() => undefined);
    throw err;
  }
  if (!tdxCollateral) logger.info('no TDX collateral configured: TDX evidence passes only alternatives with allowUnevaluatedTcb');
  await new Promise<void>((resolve) => {
    if (!io.signal || io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  logger.info('coordinator draining');
  await running.close();
  logger.info('coordinator stopped');
  return EXIT.ok;
}

/** The configured store; etcd must answer now (else STORE_UNAVAILABLE: the process exits and is restarted). */
async function openStore(cfg: CoordinatorConfig['store'], logger: Logger): Promise<Store> {
  if (cfg.kind === 'file') return writingUserPath('--store', `file:${cfg.dir}`, () => FileStore.open(cfg.dir, { log: logger }));
  if (cfg.kind === 'memory') return new MemoryStore();
  if (cfg.plaintext) logger.warn('etcd over plain http: the store traffic is neither encrypted nor authenticated (development and tests only)', { endpoints: cfg.endpoints });
  const store = await EtcdStore.open({ endpoints: cfg.endpoints, tls: cfg.tls, log: logger });
  logger.info('store: etcd', { endpoints: cfg.endpoints });
  return store;
}

/** The TDX collateral provider of `cfg`; a bad collateral directory is a configuration error (exit 64). */
async function buildTdxCollateral(cfg: TdxCollateralConfig, rt: { clock: Clock; logger: Logger; registry: Registry }): Promise<TdxCollateralProvider | undefined> {
  if (cfg.kind === 'none') return undefined;
  if (cfg.kind === 'dir') return DirectoryTdxCollateral.open(cfg.dir, { clock: rt.clock, logger: rt.logger });
  const http = cfg.fetch ? new HttpCollateralSource(buildHttpCollateralConfig(), { registry: rt.registry, clock: rt.clock, logger: rt.logger }) : undefined;
  const inner: CollateralSource = http ?? new DisabledCollateralSource();
  const cache = new CachingCollateralSource(inner, { ...defaultCollateralCacheSettings, dir: cfg.dir }, { clock: rt.clock, logger: rt.logger, registry: rt.registry });
  return new SourcedTdxCollateral(cache, { clock: rt.clock, ...(http ? { close: () => http.close() } : {}) });
}
