/**
 * `ccmesh initializer`: the init container. Composes the initializer unit with the iptables guard (units don't
 * import each other; the binary wires them) and the evidence issuer. Every setting comes from args — the Kata
 * policy pins them; env vars could be left out by the host.
 */
import { readFileSync } from 'node:fs';
import { createIssuer, ISSUER_KINDS } from '../../attestation/issuers/select.js';
import { exampleManifest } from '../../coordinator/manifest/example.js';
import { parseManifestValue } from '../../coordinator/manifest/parse.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { ProcessExecutor } from '../../iptables/executor.js';
import { installGuard } from '../../iptables/guard.js';
import { runInitializer } from '../../initializer/src/unit.js';
import { createLogger } from '../../lib/log.js';
import { EXIT, PATHS, PROXY_UID } from '../../lib/well-known.js';
import { verifyCoordinator } from '../coordinator-session.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';
import { hexFlag } from './attest/simulate-init.js';

const FLAGS = {
  coordinator: { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'host-data': { type: 'string' },
  'tls-dir': { type: 'string' },
  'secret-path': { type: 'string' },
  mesh: { type: 'string' },
  'no-guard': { type: 'boolean' },
  'max-backoff': { type: 'string' },
  'tls-owner': { type: 'string' },
  'coordinator-policy': { type: 'string' },
  'coordinator-root': { type: 'string' },
  'secret-owner': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh initializer`. */
export const INITIALIZER_USAGE = `Usage:
  ccmesh initializer --coordinator HOST:PORT [--tee auto|simulated --sim-dir DIR [--host-data HEX32]]
                     [--tls-dir ${PATHS.tlsDir}] [--secret-path ${PATHS.workloadSecret}] [--mesh disabled]

The pod's init container. First installs the fail-closed inbound guard (iptables, IPv4 and IPv6), then attests
to the Coordinator's mesh API (default port 7777) and obtains the pod's mesh certificate and workload secret,
retrying with backoff until it succeeds or is stopped. The manifest's configDigests for this pod are checked
before anything is written; a mismatch exits non-zero with no secret written.
  --mesh disabled  the pod is outside the mesh: no guard, no attestation (only from the pod's args)
  --no-guard       development without root only: skip the guard (the pod is then NOT protected)
  --coordinator-policy HASH  verify the Coordinator before attesting to it: genuine SEV-SNP/TDX evidence (pinned
                   vendor roots) bound to its TLS key and a fresh nonce, HOST_DATA/MRCONFIGID = HASH (its policy)
  --coordinator-root ARK.pem  also trust this simulated ARK for the Coordinator (development only)
  --tls-owner UID  owner of the TLS directory and files (default as root: ${PROXY_UID}, the sidecar, which renews
                   into it; "none" leaves them to the writer)
  --secret-owner UID  owner of the workload secret (default: root, mode 0400; set it to the app's runAsUser)
`;

/** Runs the initializer. */
export async function initializerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(INITIALIZER_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('initializer', argv, FLAGS);
  const mesh = r.oneOf('mesh', ['enabled', 'disabled'] as const, 'enabled');
  const coordinator = mesh === 'disabled' ? r.raw('coordinator') : r.requiredString('coordinator', 'the Coordinator mesh API address HOST:PORT');
  const tee = r.oneOf('tee', ISSUER_KINDS, 'auto');
  const simDir = r.raw('sim-dir');
  if (tee === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  const hostData = hexFlag(r, 'host-data', 32);
  if (hostData && tee !== 'simulated') r.issue('host-data', r.raw('host-data'), 'no --host-data unless --tee simulated (real hardware sets it at launch)');
  const maxBackoff = r.duration('max-backoff', 30_000);
  const runningAsRoot = process.getuid?.() === 0;
  const uid = (field: string, fallback: number | undefined): number | undefined =>
    r.raw(field) === undefined ? fallback : r.integer(field, 0, 2 ** 31 - 1);
  const tlsOwner = r.raw('tls-owner') === 'none' ? undefined : uid('tls-owner', runningAsRoot ? PROXY_UID : undefined);
  const secretOwner = uid('secret-owner', undefined);
  const coordinatorPolicy = hexFlag(r, 'coordinator-policy', 32);
  const coordinatorRoot = r.raw('coordinator-root');
  if (coordinatorRoot !== undefined && !coordinatorPolicy) r.issue('coordinator-root', coordinatorRoot, 'only together with --coordinator-policy');
  let coordinatorRootPem: string | undefined;
  if (coordinatorRoot !== undefined) {
    try {
      coordinatorRootPem = readFileSync(coordinatorRoot, 'utf8');
    } catch (err) {
      r.issue('coordinator-root', coordinatorRoot, `a readable PEM file (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  const level = r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info');
  r.finish();
  const logger = createLogger({ component: 'initializer', level: level!, sink: (l) => io.stderr(l + '\n') });
  const exec = new ProcessExecutor();
  const written = await runInitializer(
    { coordinator: coordinator ?? '', tlsDir: r.raw('tls-dir') ?? PATHS.tlsDir, secretPath: r.raw('secret-path') ?? PATHS.workloadSecret, meshDisabled: mesh === 'disabled', maxBackoffMs: maxBackoff!, ...(tlsOwner !== undefined ? { tlsOwner } : {}), ...(secretOwner !== undefined ? { secretOwner } : {}) },
    {
      issuer: () => createIssuer(tee!, {}, { logger, simulated: () => SimulatedSnpIssuer.load(simDir!, hostData ? { hostData } : {}) }),
      installGuard: r.raw('no-guard') === 'true' ? undefined : () => installGuard(exec),
      ...(coordinatorPolicy ? { verifyCoordinator: coordinatorVerifier(Buffer.from(coordinatorPolicy).toString('hex'), coordinatorRootPem) } : {}),
      logger,
      ...(io.signal ? { signal: io.signal } : {}),
    },
  );
  io.stdout(written.length > 0 ? `mesh identity written:\n${written.map((w) => `  ${w}`).join('\n')}\n` : 'mesh disabled for this pod\n');
  return EXIT.ok;
}

/**
 * The Coordinator as the pod's args pin it: a manifest of one policy (the Coordinator's, role `coordinator`) whose
 * reference values accept genuine SEV-SNP or TDX evidence under the restrictive defaults (no debug, no migration
 * agent), or a simulated platform under `rootPem` when given. The same checker `ccmesh set` uses.
 */
function coordinatorVerifier(policyHash: string, rootPem: string | undefined): (client: Parameters<typeof verifyCoordinator>[0]) => Promise<void> {
  const manifest = parseManifestValue(exampleManifest({
    workloadOwnerKeys: [],
    seedshareOwnerKeys: [],
    snp: [{}],
    tdx: [{}],
    ...(rootPem !== undefined ? { simulatedArkPem: rootPem } : {}),
    policies: [{ policyHash, role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' }],
  }));
  return (client) => verifyCoordinator(client, manifest);
}
