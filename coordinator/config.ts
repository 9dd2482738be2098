/** `ccmesh coordinator` flags → a frozen CoordinatorConfig, every problem reported at once. */
import { type FlagSpec } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { type LogLevel } from '../lib/log.js';
import { PORTS } from '../lib/mesh-ports.js';
import { COORDINATOR_STORE_DIR } from '../lib/pod-layout.js';

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
  'tdx-collateral': { type: 'string' },
  'collateral-cache': { type: 'string' },
  'fetch-collateral': { type: 'boolean' },
  help: { type: 'boolean' },
} as const satisfies FlagSpec;

/**
 * Where TDX collateral comes from: none (TDX evidence then passes only manifest alternatives with
 * `allowUnevaluatedTcb`), a directory of files the operator keeps current, or the collateral disk cache —
 * cache-only, or filled from Intel PCS when fetching is turned on.
 */
export type TdxCollateralConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'dir'; readonly dir: string }
  | { readonly kind: 'cache'; readonly dir: string; readonly fetch: boolean };

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
  readonly tdxCollateral: TdxCollateralConfig;
}

/** Usage text of `ccmesh coordinator`. */
export const COORDINATOR_USAGE = `Usage:
  ccmesh coordinator [--store file:DIR|memory] [--tee auto|simulated --sim-dir DIR] [--listen-host HOST]
                     [--user-port ${PORTS.coordinatorUser}] [--mesh-port ${PORTS.coordinatorMesh}] [--metrics-port ${PORTS.coordinatorMetrics}] [--log-level info]

Runs the Coordinator: the user API (manifests, recovery) on --user-port, the mesh API (pod certificates) on
--mesh-port, probes (/probe/startup, /probe/liveness, /probe/readiness) and /metrics on --metrics-port.
  --store file:DIR   embedded file store (default file:${COORDINATOR_STORE_DIR}); "memory" loses state on exit
  --tee simulated    attest with the simulated platform in --sim-dir (development only)
  --tdx-collateral DIR  TDX collateral files (TCB info, QE identity, PCK and root CRLs, TCB signing certificate),
                     recognised by content and re-read every 5 minutes; pods' TDX TCB status is then evaluated
  --collateral-cache DIR  the collateral disk cache instead (cache-only: filled earlier or by another process)
  --fetch-collateral    with --collateral-cache: fetch missing or stale TDX collateral from Intel PCS (network)
  Without collateral, TDX evidence passes only manifest alternatives with "allowUnevaluatedTcb": true.
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
  const tdxCollateral = readTdxCollateral(r);
  return Object.freeze({
    store,
    tee: tee ?? 'auto',
    simDir,
    listenHost: r.raw('listen-host') ?? '0.0.0.0',
    userPort: ports.user ?? PORTS.coordinatorUser,
    meshPort: ports.mesh ?? PORTS.coordinatorMesh,
    metricsPort: ports.metrics ?? PORTS.coordinatorMetrics,
    logLevel: logLevel ?? 'info',
    tdxCollateral,
  });
}

function readTdxCollateral(r: FieldReader): TdxCollateralConfig {
  const dir = r.raw('tdx-collateral');
  const cache = r.raw('collateral-cache');
  const fetch = r.raw('fetch-collateral') === 'true';
  if (dir !== undefined && cache !== undefined) r.issue('collateral-cache', cache, 'either --tdx-collateral or --collateral-cache, not both');
  if (fetch && cache === undefined) r.issue('fetch-collateral', 'true', 'only with --collateral-cache DIR (fetched collateral is always cached)');
  if (dir !== undefined) return { kind: 'dir', dir };
  if (cache !== undefined) return { kind: 'cache', dir: cache, fetch };
  return { kind: 'none' };
}
