/** `ccmesh coordinator` flags → a frozen CoordinatorConfig, every problem reported at once. */
import { type FlagSpec } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { type LogLevel } from '../lib/log.js';
import { COORDINATOR_STORE_DIR, PORTS } from '../lib/well-known.js';

/** Flags of `ccmesh coordinator`. */
export const COORDINATOR_FLAGS = {
  store: { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'listen-host': { type: 'string' },
  'user-port': { type: 'string' },
  'mesh-port': { type: 'string' },
  'metrics-port': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies FlagSpec;

/** Parsed Coordinator configuration. */
export interface CoordinatorConfig {
  readonly store: { readonly kind: 'file'; readonly dir: string } | { readonly kind: 'memory' };
  readonly tee: 'auto' | 'simulated';
  readonly simDir: string | undefined;
  readonly listenHost: string;
  readonly userPort: number;
  readonly meshPort: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
}

/** Usage text of `ccmesh coordinator`. */
export const COORDINATOR_USAGE = `Usage:
  ccmesh coordinator [--store file:DIR|memory] [--tee auto|simulated --sim-dir DIR] [--listen-host HOST]
                     [--user-port ${PORTS.coordinatorUser}] [--mesh-port ${PORTS.coordinatorMesh}] [--metrics-port ${PORTS.coordinatorMetrics}] [--log-level info]

Runs the Coordinator: the user API (manifests, recovery) on --user-port, the mesh API (pod certificates) on
--mesh-port, probes (/probe/startup, /probe/liveness, /probe/readiness) and /metrics on --metrics-port.
  --store file:DIR   embedded file store (default file:${COORDINATOR_STORE_DIR}); "memory" loses state on exit
  --tee simulated    attest with the simulated platform in --sim-dir (development only)
`;

/** Reads the Coordinator flags from a reader (issues are collected; the caller calls finish()). */
export function readCoordinatorConfig(r: FieldReader): CoordinatorConfig {
  const storeRaw = r.raw('store') ?? `file:${COORDINATOR_STORE_DIR}`;
  let store: CoordinatorConfig['store'] = { kind: 'memory' };
  if (storeRaw.startsWith('file:') && storeRaw.length > 5) store = { kind: 'file', dir: storeRaw.slice(5) };
  else if (storeRaw !== 'memory') r.issue('store', storeRaw, 'file:DIR or memory');
  const tee = r.oneOf('tee', ['auto', 'simulated'] as const, 'auto');
  const simDir = r.raw('sim-dir');
  if (tee === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  if (tee === 'auto' && simDir !== undefined) r.issue('sim-dir', simDir, 'no --sim-dir unless --tee simulated');
  const ports = { user: r.port('user-port', PORTS.coordinatorUser), mesh: r.port('mesh-port', PORTS.coordinatorMesh), metrics: r.port('metrics-port', PORTS.coordinatorMetrics) };
  const logLevel = r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info');
  return Object.freeze({
    store,
    tee: tee ?? 'auto',
    simDir,
    listenHost: r.raw('listen-host') ?? '0.0.0.0',
    userPort: ports.user ?? PORTS.coordinatorUser,
    meshPort: ports.mesh ?? PORTS.coordinatorMesh,
    metricsPort: ports.metrics ?? PORTS.coordinatorMetrics,
    logLevel: logLevel ?? 'info',
  });
}
