/**
 * `ccmesh initializer`: the init container. Reads its settings through the unit's front door
 * (`initializer/config.ts`) and composes the initializer unit with the iptables guard and the evidence issuer
 * (units don't import each other; the binary wires them).
 */
import { createIssuer } from '../../attestation/issuers/select.js';
import { coordinatorTrustManifest } from '../../contract/coordinator-trust.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { ProcessExecutor } from '../../iptables/executor.js';
import { applyPodRouting } from '../../iptables/apply.js';
import { installGuard } from '../../iptables/guard.js';
import { type CoordinatorCheck, INITIALIZER_FLAGS, INITIALIZER_USAGE, readInitializerSettings } from '../../initializer/config.js';
import { runInitializer } from '../../initializer/unit.js';
import { createLogger } from '../../lib/log.js';
import { EXIT } from '../../lib/exit-codes.js';
import { verifyCoordinator } from '../coordinator-session.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';
import { forbidDumpsOrWarn } from '../../lib/process/dumpable.js';

export { INITIALIZER_USAGE };

/** Runs the initializer. */
export async function initializerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(INITIALIZER_USAGE);
    return EXIT.ok;
  }
  const { r, tok } = readCommandFlags('initializer', argv, INITIALIZER_FLAGS);
  const s = readInitializerSettings(r, tok, process.getuid?.() === 0);
  r.finish();
  const logger = createLogger({ component: 'initializer', level: s.logLevel, sink: (l) => io.stderr(l + '\n') });
  await forbidDumpsOrWarn(logger);
  if (s.anyMeshOwner) logger.warn('SECURITY: the Coordinator\'s mesh owner is not checked (--any-mesh-owner): a Coordinator whose store was wiped and re-set by anyone is accepted');
  if (s.coordinatorCheck?.measurements === 'any') logger.warn('SECURITY: the Coordinator is verified without a launch measurement (--coordinator-allow-unmeasured): any genuine guest with its policy hash passes');
  const exec = new ProcessExecutor();
  const written = await runInitializer(s.config, {
    issuer: () => createIssuer(s.tee, {}, { logger, simulated: () => SimulatedSnpIssuer.load(s.simDir!, s.hostData ? { hostData: s.hostData } : {}) }),
    installGuard: s.noGuard ? undefined : () => installGuard(exec),
    ...(s.noGuard ? {} : { installRouting: async () => void (await applyPodRouting(exec)) }),
    ...(s.coordinatorCheck ? { verifyCoordinator: coordinatorVerifier(s.coordinatorCheck, s.config.meshOwner) } : {}),
    logger,
    ...(io.signal ? { signal: io.signal } : {}),
  });
  io.stdout(written.length > 0 ? `mesh identity written:\n${written.map((w) => `  ${w}`).join('\n')}\n` : 'mesh disabled for this pod\n');
  return EXIT.ok;
}

function coordinatorVerifier(check: CoordinatorCheck, meshOwner: Uint8Array | undefined): (client: Parameters<typeof verifyCoordinator>[0]) => Promise<void> {
  const manifest = coordinatorTrustManifest(check.policyHash, check.measurements, check.simulatedRootPem);
  return async (client) => {
    await verifyCoordinator(client, manifest, undefined, meshOwner);
  };
}
