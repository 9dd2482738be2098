/**
 * `ccmesh coordinator`: parse flags → open the store → choose the evidence issuer → start the APIs → wait for
 * SIGINT/SIGTERM → drain → exit. Configuration errors exit 64 with every problem listed.
 */
import { createIssuer } from '../../attestation/issuers/select.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { COORDINATOR_FLAGS, COORDINATOR_USAGE, readCoordinatorConfig } from '../../coordinator/config.js';
import { FileStore } from '../../coordinator/store/file-store.js';
import { MemoryStore } from '../../coordinator/store/memory-store.js';
import type { Store } from '../../coordinator/store/store.js';
import { startCoordinator } from '../../coordinator/unit.js';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { EXIT } from '../../lib/well-known.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';

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
  const issuer = await createIssuer(cfg.tee, {}, { logger, simulated: () => SimulatedSnpIssuer.load(cfg.simDir!) });
  const store: Store = cfg.store.kind === 'file' ? await FileStore.open(cfg.store.dir, { log: logger }) : new MemoryStore();
  const running = await startCoordinator({ host: cfg.listenHost, userPort: cfg.userPort, meshPort: cfg.meshPort, metricsPort: cfg.metricsPort }, { store, issuer, clock: systemClock, logger });
  await new Promise<void>((resolve) => {
    if (!io.signal || io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  logger.info('coordinator draining');
  await running.close();
  logger.info('coordinator stopped');
  return EXIT.ok;
}
