/**
 * Routes `ccmesh <unit> <verb> …` to a command and turns anything thrown into an exit code: configuration and
 * usage errors exit 64 with every problem listed, unexpected faults exit 1 with a message (never a bare stack).
 */
import { CcmeshError, ConfigError, ErrorCode } from '../lib/errors.js';
import { EXIT } from '../lib/exit-codes.js';
import type { CliIo, Command } from './io.js';
import { VERSION } from '../lib/version.js';

/** Deliberate errors that mean "the user's input is wrong" (exit 64); any other CcmeshError exits 1 with its message. */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCode.INPUT_UNREADABLE, ErrorCode.INPUT_MALFORMED, ErrorCode.USAGE, ErrorCode.CONFIG_INVALID]);

interface Route {
  readonly words: readonly string[];
  readonly summary: string;
  readonly run: Command;
}

// Commands are imported only when chosen: a sidecar or an init container then loads its own unit, not the
// Coordinator's PKI and gRPC stack (about 20 MB of RSS per sidecar).
const lazy = (load: () => Promise<Command>): Command => async (argv, io) => (await load())(argv, io);

const ROUTES: readonly Route[] = [
  { words: ['attest', 'verify'], summary: 'verify SEV-SNP or TDX evidence offline against pinned vendor roots', run: lazy(async () => (await import('./commands/attest/verify.js')).attestVerifyCommand) },
  { words: ['attest', 'issue'], summary: 'obtain evidence from this TEE (configfs-tsm, /dev/sev-guest) or a simulated one', run: lazy(async () => (await import('./commands/attest/issue.js')).attestIssueCommand) },
  { words: ['attest', 'simulate', 'init'], summary: 'create a simulated SEV-SNP platform (development and tests only)', run: lazy(async () => (await import('./commands/attest/simulate-init.js')).simulateInitCommand) },
  { words: ['coordinator'], summary: 'run the Coordinator (manifest history, CA, attestation, recovery)', run: lazy(async () => (await import('./commands/coordinator.js')).coordinatorCommand) },
  { words: ['iptables'], summary: 'plan, apply, verify or clean up the traffic capture rules; install or lift the inbound guard', run: lazy(async () => { const m = await import('./commands/iptables.js'); return (argv, io) => m.iptablesCommand(argv, io); }) },
  { words: ['initializer'], summary: 'init container: install the guard, attest, write the mesh identity and workload secret', run: lazy(async () => (await import('./commands/initializer.js')).initializerCommand) },
  { words: ['proxy'], summary: 'run the sidecar proxy (mTLS data plane, egress listeners, admin, cert renewal)', run: lazy(async () => (await import('./commands/proxy.js')).proxyCommand) },
  { words: ['manifest', 'init'], summary: 'create owner keys and a skeleton manifest in a workspace', run: lazy(async () => (await import('./commands/mesh/manifest-init.js')).manifestInitCommand) },
  { words: ['set'], summary: 'attest the Coordinator and set the workspace manifest', run: lazy(async () => (await import('./commands/mesh/set.js')).setCommand) },
  { words: ['verify'], summary: 'attest the Coordinator and compare its history with the workspace manifest', run: lazy(async () => (await import('./commands/mesh/verify.js')).meshVerifyCommand) },
  { words: ['demo'], summary: 'run a local mesh: Coordinator, two workloads with sidecars, traffic over mTLS', run: lazy(async () => (await import('./commands/demo/demo.js')).demoCommand) },
  { words: ['generate'], summary: 'inject sidecars into Kubernetes YAML and write the manifest\'s policy entries', run: lazy(async () => (await import('./commands/k8s/generate.js')).generateCommand) },
  { words: ['injector'], summary: 'serve the sidecar-injection admission webhook (AdmissionReview v1 over TLS)', run: lazy(async () => (await import('./commands/k8s/injector.js')).injectorCommand) },
  { words: ['install'], summary: 'print the Kubernetes install manifests (Coordinator, injector, RBAC) as YAML', run: lazy(async () => (await import('./commands/k8s/install.js')).installCommand) },
  { words: ['recover'], summary: 'hand a recovering Coordinator its seed from this workspace\'s seed share', run: lazy(async () => (await import('./commands/mesh/recover.js')).recoverCommand) },
];

/** Top-level usage text. */
export function usage(): string {
  const lines = ROUTES.map((r) => `  ccmesh ${r.words.join(' ').padEnd(22)} ${r.summary}`);
  return `ccmesh ${VERSION} — service mesh runtime for confidential containers\n\nUsage:\n${lines.join('\n')}\n  ccmesh version                print the version\n\nRun "ccmesh <command> --help" for a command's flags.\n`;
}

/** Runs one CLI invocation; returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout(usage());
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === 'version' || first === '--version') {
    io.stdout(`${VERSION}\n`);
    return EXIT.ok;
  }
  const route = ROUTES.find((r) => r.words.every((w, i) => argv[i] === w));
  if (!route) {
    io.stderr(`ccmesh: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await route.run(argv.slice(route.words.length), io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`ccmesh ${route.words.join(' ')}: ${err.message}\n(run "ccmesh ${route.words.join(' ')} --help" for usage)\n`);
      return EXIT.usage;
    }
    if (err instanceof CcmeshError) {
      io.stderr(`ccmesh ${route.words.join(' ')}: ${err.message}\n`);
      return USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.internal;
    }
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr(`ccmesh ${route.words.join(' ')}: internal error (please report): ${detail}\n`);
    return EXIT.internal;
  }
}
