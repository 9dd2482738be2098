/**
 * `ccmesh iptables plan|apply|verify|guard|routing|unguard|cleanup`: the capture rules of iptables/ from the command line.
 * `plan` prints the restore text of both families without touching anything; `apply --dry-run` prints every command
 * it would run (reads answered as "nothing installed"); `verify` exits 3 with a diff when the kernel differs.
 */
import { closest } from '../../lib/config/argv.js';
import { quoteValue } from '../../lib/errors.js';
import { EXIT } from '../../lib/exit-codes.js';
import { applyPlan, applyPodRouting, cleanupPlan, resolveFamilies, verifyPlan } from '../../iptables/apply.js';
import { detectTools } from '../../iptables/backend.js';
import { IPTABLES_FLAGS, parseIptablesConfig } from '../../iptables/config.js';
import { DryRunExecutor, type Executor, ProcessExecutor } from '../../iptables/executor.js';
import { installGuard, liftGuard } from '../../iptables/guard.js';
import { buildPlan, type Family, FAMILIES, type Plan } from '../../iptables/plan.js';
import { renderRestore } from '../../iptables/render.js';
import { formatReport } from '../../iptables/verify.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';

const VERBS = ['plan', 'apply', 'verify', 'guard', 'routing', 'unguard', 'cleanup'] as const;
type Verb = (typeof VERBS)[number];

/** Usage text of `ccmesh iptables`. */
export const IPTABLES_USAGE = `Usage:
  ccmesh iptables plan    --ingress SPEC [--egress-capture CIDRS [--egress-ports PORTS]] [--admin-port N]
                          [--exclude-ports PORTS] [--ipv6 auto|on|off] [--proxy-uid N]
                          [--tproxy-mark M] [--admitted-mark M] [--route-table N]
  ccmesh iptables apply   …same flags… [--dry-run]
  ccmesh iptables verify  …same flags…     exit 0 when the kernel matches the plan, 3 with a diff otherwise
  ccmesh iptables guard                    drop every inbound packet except loopback (IPv4 and IPv6)
  ccmesh iptables routing [--ipv6 auto|on|off]
                                           add the TPROXY policy routing (ip rule/route, default marks and table):
                                           the initializer's step after the guard, which the non-root sidecar
                                           cannot do itself
  ccmesh iptables unguard                  lift the guard in both families (refused if IPv6 is up but ip6tables
                                           is unusable)
  ccmesh iptables cleanup  …same flags…    remove the capture rules and policy routing (not the guard)

SPEC is name#port#mode entries joined by ##; mode is mtls (default), mtls:allow=<san>,…, tls or plain. Ports not
listed require mTLS. Absent flags mean the most restrictive behaviour.
`;

const PLAN_FLAGS = { ...IPTABLES_FLAGS, 'dry-run': { type: 'boolean' }, help: { type: 'boolean' } } as const;

function readPlan(verb: Verb, argv: readonly string[]): { plan: Plan; dryRun: boolean } {
  const { tok, r } = readCommandFlags(`iptables ${verb}`, argv, PLAN_FLAGS);
  const config = parseIptablesConfig(r);
  if (verb !== 'apply' && tok.values['dry-run'] !== undefined) r.issue('dry-run', 'true', `no --dry-run for "iptables ${verb}"`);
  r.finish();
  return { plan: buildPlan(config), dryRun: tok.values['dry-run'] === 'true' };
}

/** Families for `cleanup`: every family whose tools work, whatever --ipv6 says (leftovers may be anywhere). */
async function allFamilies(exec: Executor): Promise<Map<Family, NonNullable<Awaited<ReturnType<typeof detectTools>>>>> {
  const out = new Map<Family, NonNullable<Awaited<ReturnType<typeof detectTools>>>>();
  for (const f of FAMILIES) {
    const t = await detectTools(exec, f);
    if (t) out.set(f, t);
  }
  return out;
}

/** Runs `ccmesh iptables …`; `exec` is injectable for tests. */
export async function iptablesCommand(argv: readonly string[], io: CliIo, exec: Executor = new ProcessExecutor()): Promise<number> {
  const verb = argv[0] as Verb | undefined;
  if (verb === undefined || !VERBS.includes(verb) || wantsHelp(argv)) {
    if (wantsHelp(argv)) {
      io.stdout(IPTABLES_USAGE);
      return EXIT.ok;
    }
    const near = verb === undefined ? undefined : closest(verb, VERBS);
    const what = verb === undefined ? 'an action is needed' : `unknown action ${quoteValue(verb)}${near === undefined ? '' : ` (did you mean "ccmesh iptables ${near}"?)`}`;
    io.stderr(`ccmesh iptables: ${what}\n${IPTABLES_USAGE}`);
    return EXIT.usage;
  }
  const rest = argv.slice(1);
  switch (verb) {
    case 'plan': {
      const { plan } = readPlan(verb, rest);
      const v6 = plan.ipv6 === 'off'
        ? '# IPv6: off (no IPv6 capture rules; the sidecar keeps the IPv6 guard instead of lifting it)\n'
        : `# IPv6 (${plan.ipv6 === 'auto' ? 'when the kernel has IPv6' : 'required'}): ip6tables-restore --noflush\n${renderRestore(plan, 'v6')}`;
      io.stdout(`# IPv4: iptables-restore --noflush\n${renderRestore(plan, 'v4')}${v6}`);
      return EXIT.ok;
    }
    case 'apply': {
      const { plan, dryRun } = readPlan(verb, rest);
      if (dryRun) {
        const dry = new DryRunExecutor((c) => dryAnswer(c.cmd, c.args));
        await applyPlan(dry, plan, await resolveFamilies(dry, plan.ipv6));
        io.stdout(dry.transcript());
        return EXIT.ok;
      }
      const families = await resolveFamilies(exec, plan.ipv6);
      await applyPlan(exec, plan, families);
      const report = await verifyPlan(exec, plan, families);
      io.stdout(`applied (${[...families.keys()].join(', ')}); ${formatReport(report)}`);
      return report.ok ? EXIT.ok : EXIT.rejected;
    }
    case 'verify': {
      const { plan } = readPlan(verb, rest);
      const report = await verifyPlan(exec, plan, await resolveFamilies(exec, plan.ipv6));
      (report.ok ? io.stdout : io.stderr)(formatReport(report));
      return report.ok ? EXIT.ok : EXIT.rejected;
    }
    case 'cleanup': {
      const { plan } = readPlan(verb, rest);
      await cleanupPlan(exec, plan, await allFamilies(exec));
      io.stdout('capture rules and policy routing removed (the guard, if any, stays)\n');
      return EXIT.ok;
    }
    case 'routing': {
      const { r } = readCommandFlags(`iptables ${verb}`, rest, { ipv6: IPTABLES_FLAGS.ipv6, help: { type: 'boolean' } });
      const ipv6 = r.oneOf('ipv6', ['auto', 'on', 'off'] as const, 'auto') ?? 'auto';
      r.finish();
      const families = await applyPodRouting(exec, ipv6);
      io.stdout(`policy routing installed (${families.join(', ')})\n`);
      return EXIT.ok;
    }
    case 'guard':
    case 'unguard': {
      const { r } = readCommandFlags(`iptables ${verb}`, rest, { help: { type: 'boolean' } });
      r.finish();
      if (verb === 'guard') await installGuard(exec);
      else await liftGuard(exec);
      io.stdout(verb === 'guard' ? 'guard installed: inbound traffic dropped except loopback\n' : 'guard lifted\n');
      return EXIT.ok;
    }
  }
}

/** Canned answers for a dry run: an nf_tables host with IPv6 on eth0 and nothing of ours installed. */
function dryAnswer(cmd: string, args: readonly string[]): { code: number; stdout: string; stderr: string } | undefined {
  if (args[0] === '--version' && /^ip6?tables/.test(cmd)) return { code: 0, stdout: `${cmd} v1.8.9 (nf_tables)\n`, stderr: '' };
  if (cmd === 'cat') return { code: 0, stdout: 'fe800000000000000000000000000001 02 40 20 80     eth0\n', stderr: '' };
  if (cmd === 'ip' && args[0] === '-j') return { code: 0, stdout: '[]', stderr: '' };
  return undefined;
}
