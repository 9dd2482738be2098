/**
 * Whether every address family the kernel has NOW is either captured or guarded — the part of drift that verifying
 * the installed rules cannot see. Rules verified against the plan say nothing about a family that got no rules at
 * startup: with `auto` that is IPv6 on a kernel that had no IPv6 then; with `off` it is IPv6 left to the guard.
 * The watchdog runs this beside {@link verifyPlan}; any finding is drift (guard back in, unready).
 *
 *   mode   v6 captured?   what must hold now
 *   on     always         nothing extra (verifyPlan covers v6)
 *   auto   yes            nothing extra
 *   auto   no             the kernel still has no IPv6 (otherwise startup would now capture it: drift)
 *   off    no             the v6 guard is intact; without ip6tables, no IPv6 address on a non-lo interface
 */
import { type FamilyTools, verifyPlan } from './apply.js';
import { detectTools } from './backend.js';
import type { Executor } from './executor.js';
import { verifyGuard } from './guard.js';
import { describeAddresses, probeIpv6 } from './host-ipv6.js';
import type { Ipv6Mode, Plan } from './plan.js';
import { type Difference, mergeReports, type VerifyReport } from './verify.js';

/** Table name used in coverage findings (they concern a whole family, not a rule). */
export const COVERAGE_TABLE = 'coverage';

function finding(rule: string): Difference {
  return { family: 'v6', table: COVERAGE_TABLE, chain: 'family', rule };
}

function report(missing: readonly Difference[]): VerifyReport {
  return { ok: missing.length === 0, missing, extra: [], changed: [] };
}

/** Checks that IPv6, if the kernel has it now, is captured (`captured` has v6) or guarded as `mode` requires. */
export async function verifyCoverage(exec: Executor, mode: Ipv6Mode, captured: FamilyTools): Promise<VerifyReport> {
  if (captured.has('v6')) return report([]);
  const probe = await probeIpv6(exec);
  if (!probe.kernel) return report([]);
  if (mode !== 'off') {
    // SECURITY: a family that appeared after startup has no capture rules, whatever its guard says now.
    const addrs = probe.addresses.length > 0 ? ` (${describeAddresses(probe.addresses)})` : '';
    return report([finding(`IPv6 appeared after startup${addrs}: the kernel has IPv6 now, but no IPv6 capture rules were installed (--ipv6 ${mode})`)]);
  }
  if (await detectTools(exec, 'v6')) return verifyGuard(exec, ['v6']);
  if (probe.addresses.length === 0) return report([]);
  return report([finding(`IPv6 is configured (${describeAddresses(probe.addresses)}) but ip6tables is not usable: with --ipv6 off IPv6 is neither captured nor guarded`)]);
}

/** What the watchdog checks: the installed rules against the plan, and that no family escaped both rules and guard. */
export async function verifyCapture(exec: Executor, plan: Plan, captured: FamilyTools): Promise<VerifyReport> {
  return mergeReports([await verifyPlan(exec, plan, captured), await verifyCoverage(exec, plan.ipv6, captured)]);
}
