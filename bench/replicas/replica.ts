/**
 * One Coordinator replica for the replicas bench (`bench/suites/replicas.ts`), run as its own process: what
 * `ccmesh coordinator --store etcd:… --tee simulated --sim-dir … --peers …` runs, except that the per-client bound on
 * nonce-consuming requests is lifted — the bench's one load generator on one address would otherwise measure that
 * bound (10 per second), not issuance. Configuration is one JSON argument; SIGTERM drains and exits 0.
 */
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { EtcdStore } from '../../coordinator/store/etcd-store.js';
import { startCoordinator } from '../../coordinator/unit.js';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';

/** What the suite passes (JSON in argv[2]). */
export interface BenchReplicaConfig {
  readonly endpoints: readonly string[];
  readonly simDir: string;
  readonly peers: readonly string[];
  readonly userPort: number;
  readonly meshPort: number;
  readonly metricsPort: number;
}

const UNBOUNDED = { burst: Number.MAX_SAFE_INTEGER, perSecond: Number.MAX_SAFE_INTEGER };

const cfg = JSON.parse(process.argv[2] ?? '{}') as BenchReplicaConfig;
const logger = createLogger({ component: 'bench-replica', level: 'warn', sink: (line) => void process.stderr.write(line + '\n') });
const store = await EtcdStore.open({ endpoints: cfg.endpoints, log: logger });
const running = await startCoordinator(
  { host: '127.0.0.1', userPort: cfg.userPort, meshPort: cfg.meshPort, metricsPort: cfg.metricsPort },
  {
    store,
    issuer: await SimulatedSnpIssuer.load(cfg.simDir),
    clock: systemClock,
    logger,
    nonceSpendLimits: { perClient: UNBOUNDED, overall: UNBOUNDED, maxClients: 1 },
    peerRecovery: { peers: cfg.peers },
  },
);
process.once('SIGTERM', () => {
  void running.close().then(() => process.exit(0), () => process.exit(1));
});
