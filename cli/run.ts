/**
 * Routes `ccmesh <unit> <verb> …` to a command and turns anything thrown into an exit code: configuration and
 * usage errors exit 64 with every problem listed, unexpected faults exit 1 with a message (never a bare stack).
 */
import { closest } from '../lib/config/argv.js';
import { CcmeshError, ConfigError, describeSystemError, ErrorCode, quoteValue, systemErrorCode } from '../lib/errors.js';
import { EXIT } from '../lib/exit-codes.js';
import type { CliIo, Command } from './io.js';
import { VERSION } from '../lib/version.js';

/**
 * Deliberate errors that mean "the user's input is wrong" (exit 64); any other CcmeshError exits 1 with its message.
 * A Kubernetes resource `generate` refuses to inject, or whose policy it refuses, is input too.
 */
const USAGE_CODES: ReadonlySet<string> = new Set([
  ErrorCode.INPUT_UNREADABLE, ErrorCode.INPUT_MALFORMED, ErrorCode.USAGE, ErrorCode.CONFIG_INVALID, ErrorCode.OUTPUT_UNWRITABLE, ErrorCode.LISTEN_FAILED,
  ErrorCode.K8S_INJECT_REFUSED, ErrorCode.K8S_POLICY_INVALID,
]);

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
  { words: ['secure-pv'], summary: 'native sidecar: format (blank devices only), open and mount a pod\'s encrypted persistent volume', run: lazy(async () => (await import('./commands/secure-pv.js')).securePvCommand) },
  { words: ['initializer'], summary: 'init container: install the guard, attest, write the mesh identity and workload secret', run: lazy(async () => (await import('./commands/initializer.js')).initializerCommand) },
  { words: ['proxy'], summary: 'run the sidecar proxy (mTLS data plane, egress listeners, admin, cert renewal)', run: lazy(async () => (await import('./commands/proxy.js')).proxyCommand) },
  { words: ['manifest', 'init'], summary: 'create owner keys and a skeleton manifest in a workspace', run: lazy(async () => (await import('./commands/mesh/manifest-init.js')).manifestInitCommand) },
  { words: ['set'], summary: 'attest the Coordinator and set the workspace manifest', run: lazy(async () => (await import('./commands/mesh/set.js')).setCommand) },
  { words: ['verify'], summary: 'attest the Coordinator and compare its history with the workspace manifest', run: lazy(async () => (await import('./commands/mesh/verify.js')).meshVerifyCommand) },
  { words: ['check'], summary: 'check an install: Kubernetes API, Coordinator, manifest, webhook certificates, sidecars, leaves', run: lazy(async () => (await import('./commands/k8s/check.js')).checkCommand) },
  { words: ['demo'], summary: 'run a local mesh: Coordinator, two workloads with sidecars, traffic over mTLS', run: lazy(async () => (await import('./commands/demo/demo.js')).demoCommand) },
  { words: ['generate'], summary: 'inject sidecars into Kubernetes YAML and write the manifest\'s policy entries', run: lazy(async () => (await import('./commands/k8s/generate.js')).generateCommand) },
  { words: ['injector'], summary: 'serve the sidecar-injection admission webhook (AdmissionReview v1 over TLS)', run: lazy(async () => (await import('./commands/k8s/injector.js')).injectorCommand) },
  { words: ['install'], summary: 'print the Kubernetes install manifests (Coordinator, injector, RBAC) as YAML', run: lazy(async () => (await import('./commands/k8s/install.js')).installCommand) },
  { words: ['port-forward'], summary: 'forward a local port to a meshed pod over mTLS (the host relays only ciphertext)', run: lazy(async () => (await import('./commands/port-forward/command.js')).portForwardCommand) },
  { words: ['recover'], summary: 'hand a recovering Coordinator its seed from this workspace\'s seed share', run: lazy(async () => (await import('./commands/mesh/recover.js')).recoverCommand) },
];

/** Top-level usage text. */
export function usage(): string {
  const lines = ROUTES.map((r) => `  ccmesh ${r.words.join(' ').padEnd(22)} ${r.summary}`);
  return `ccmesh ${VERSION} — service mesh runtime for confidential containers\n\nUsage:\n${lines.join('\n')}\n  ccmesh version                print the version\n  ccmesh help COMMAND           a command's flags (same as "ccmesh COMMAND --help")\n\nRun "ccmesh <command> --help" for a command's flags.\n`;
}

/** The routes under a group prefix (`attest`, `attest simulate`), or none when `words` starts no group. */
function groupRoutes(words: readonly string[]): readonly Route[] {
  if (words.length === 0) return [];
  return ROUTES.filter((r) => r.words.length > words.length && words.every((w, i) => r.words[i] === w));
}

/** Usage of a command group: its subcommands with their summaries. */
function groupUsage(words: readonly string[], routes: readonly Route[]): string {
  const lines = routes.map((r) => `  ccmesh ${r.words.join(' ').padEnd(22)} ${r.summary}`);
  return `Usage:\n${lines.join('\n')}\n\nRun "ccmesh ${words.join(' ')} <command> --help" for a command's flags.\n`;
}

/** The longest run of leading words that are command words (not flags): what the user meant as the command. */
function commandWords(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv.slice(0, 3)) {
    if (a.startsWith('-')) break;
    out.push(a);
  }
  return out;
}

/** `ccmesh: unknown command "x"`, with the nearest known command when one is close, and where to look. */
function unknownCommand(argv: readonly string[]): string {
  const words = commandWords(argv);
  const typed = words.join(' ') || argv[0] || '';
  // Suggest by the deepest level that is a known group, e.g. "attest verfy" → "attest verify".
  let prefix: string[] = [];
  for (let n = words.length - 1; n >= 1; n--) {
    if (groupRoutes(words.slice(0, n)).length > 0) {
      prefix = words.slice(0, n);
      break;
    }
  }
  const next = [...new Set((prefix.length > 0 ? groupRoutes(prefix) : ROUTES).map((r) => r.words[prefix.length]!))];
  const wrong = words[prefix.length] ?? typed;
  const near = closest(wrong, [...next, ...(prefix.length === 0 ? ['version', 'help'] : [])]);
  const hint = near === undefined ? '' : ` (did you mean "ccmesh ${[...prefix, near].join(' ')}"?)`;
  return `ccmesh: unknown command ${quoteValue(typed)}${hint}; run "ccmesh help" for the list of commands\n`;
}

/** Runs one CLI invocation; returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    io.stderr(usage());
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h' || (first === 'help' && argv.length === 1)) {
    io.stdout(usage());
    return EXIT.ok;
  }
  if (first === 'help') return runCli([...argv.slice(1), '--help'], io);
  if (first === 'version' || first === '--version') {
    io.stdout(`${VERSION}\n`);
    return EXIT.ok;
  }
  const route = ROUTES.find((r) => r.words.every((w, i) => argv[i] === w));
  if (!route) {
    const words = commandWords(argv);
    const group = groupRoutes(words);
    if (group.length > 0 && argv.length === words.length + 1 && (argv[words.length] === '--help' || argv[words.length] === '-h')) {
      io.stdout(groupUsage(words, group));
      return EXIT.ok;
    }
    if (group.length > 0 && argv.length === words.length) {
      io.stderr(`ccmesh ${words.join(' ')}: a subcommand is needed\n${groupUsage(words, group)}`);
      return EXIT.usage;
    }
    io.stderr(unknownCommand(argv));
    return EXIT.usage;
  }
  const name = route.words.join(' ');
  try {
    return await route.run(argv.slice(route.words.length), io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`ccmesh ${name}: ${err.message}\n(run "ccmesh ${name} --help" for usage)\n`);
      return EXIT.usage;
    }
    if (err instanceof CcmeshError) {
      const usageError = USAGE_CODES.has(err.code);
      io.stderr(`ccmesh ${name}: ${err.message}\n`);
      return usageError ? EXIT.usage : EXIT.internal;
    }
    const sys = systemErrorCode(err);
    if (sys !== undefined) {
      // A file-system or network refusal no command mapped to its flag: still one line, never a stack. A missing
      // path, a busy port or a permission is the environment or the input, not a ccmesh bug.
      const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
      const where = e.path ?? (e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : undefined);
      io.stderr(`ccmesh ${name}: cannot ${e.syscall ?? 'complete the operation'}${where !== undefined ? ` ${quoteValue(where)}` : ''}: ${describeSystemError(err)}\n`);
      return ENVIRONMENT_ERRNOS.has(sys) ? EXIT.usage : EXIT.internal;
    }
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr(`ccmesh ${name}: internal error (please report): ${detail}\n`);
    return EXIT.internal;
  }
}

/** System error codes that mean "the path or address you named is wrong here" (exit 64), not a ccmesh fault. */
const ENVIRONMENT_ERRNOS: ReadonlySet<string> = new Set([
  'ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG',
  'EADDRINUSE', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ENOTFOUND', 'EAI_AGAIN',
]);
