/**
 * Plan → kernel. Per family: read our state back (iptables-save of each table the plan touches), render one restore
 * text for all of those tables and feed it to ONE `iptables-restore --noflush` call (atomic per table), then add the
 * policy routing that is missing. Which families get rules is decided here, from the `ipv6` setting and what the
 * kernel has — never silently: a kernel with IPv6 and no usable ip6tables is an error under `auto`.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { detectTools, type IptablesTools, restore, saveTable } from './backend.js';
import type { Executor } from './executor.js';
import { describeAddresses, probeIpv6 } from './host-ipv6.js';
import { type Family, type Ipv6Mode, PLAN_DEFAULTS, type Plan, type PolicyRouting, type TablePlan } from './plan.js';
import { applyRouting, removeRouting } from './policy-routing.js';
import { type PresentState, renderCleanup, renderTables } from './render.js';
import { parseSave, presentState } from './saved.js';
import { mergeReports, verifyFamily, type VerifyReport } from './verify.js';

/** The families to act on, with their tools. */
export type FamilyTools = ReadonlyMap<Family, IptablesTools>;

/**
 * Decides the families that get capture rules: v4 always; v6 when `on` (ip6tables required), or `auto` and the kernel
 * has IPv6 at all — not only when an address is configured now. Throws IPTABLES_UNAVAILABLE when a needed tool is
 * missing. `off` captures v4 only; the caller keeps IPv6 guarded (see liftGuard's `captured`).
 */
export async function resolveFamilies(exec: Executor, mode: Ipv6Mode): Promise<FamilyTools> {
  const out = new Map<Family, IptablesTools>();
  const v4 = await detectTools(exec, 'v4');
  if (!v4) throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, 'iptables is not usable here (not installed, or the kernel lacks netfilter support)');
  out.set('v4', v4);
  if (mode === 'off') return out;
  const v6 = await detectTools(exec, 'v6');
  if (mode === 'on') {
    if (!v6) throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, 'ip6tables is not usable here, but --ipv6 on requires IPv6 rules');
    out.set('v6', v6);
    return out;
  }
  // SECURITY: `auto` asks the kernel, not today's addresses. An interface can get IPv6 at any time after startup
  // (disable_ipv6=0, `ip addr add`); rules keyed on the addresses seen at startup would leave that IPv6 open.
  const probe = await probeIpv6(exec);
  if (!probe.kernel) return out;
  if (!v6) {
    const now = probe.addresses.length > 0 ? `IPv6 is configured (${describeAddresses(probe.addresses)})` : 'IPv6 can be enabled on any interface at any time';
    throw new CcmeshError(
      ErrorCode.IPTABLES_UNAVAILABLE,
      `--ipv6 auto: the kernel has IPv6 (/proc/net/if_inet6 exists) and ${now}, but ip6tables is not usable here; refusing to capture IPv4 only (install ip6tables, or pass --ipv6 off to leave IPv6 uncaptured)`,
    );
  }
  out.set('v6', v6);
  return out;
}

/** Reads what of ours is present in `tables` (one save per table). */
export async function readPresent(exec: Executor, tools: IptablesTools, tables: readonly TablePlan[]): Promise<Map<string, PresentState>> {
  const out = new Map<string, PresentState>();
  for (const t of tables) {
    const state = presentState(parseSave(await saveTable(exec, tools, t.table))).get(t.table);
    if (state) out.set(t.table, state);
  }
  return out;
}

/** Installs (or re-installs) `tables` for one family in one restore call. */
export async function installTables(exec: Executor, tools: IptablesTools, tables: readonly TablePlan[], what: string): Promise<void> {
  const present = await readPresent(exec, tools, tables);
  await restore(exec, tools, renderTables(tables, present), what);
}

/** Removes `tables` (our jumps and chains) for one family; nothing to do is fine. */
export async function removeTables(exec: Executor, tools: IptablesTools, tables: readonly TablePlan[], what: string): Promise<void> {
  const text = renderCleanup(tables, await readPresent(exec, tools, tables));
  if (text !== undefined) await restore(exec, tools, text, what);
}

/** Applies the plan to every family in `families`. Idempotent. */
export async function applyPlan(exec: Executor, plan: Plan, families: FamilyTools): Promise<void> {
  for (const [family, tools] of families) {
    await installTables(exec, tools, plan[family].tables, `installing the ${family} capture rules`);
    await installRouting(exec, family, plan[family].routing, plan.ipv6);
  }
}

/** Adds the policy routing of one family that is missing, with a plain message for the one cryptic iproute2 failure. */
async function installRouting(exec: Executor, family: Family, routing: PolicyRouting, ipv6: Ipv6Mode): Promise<void> {
  try {
    await applyRouting(exec, family, routing);
  } catch (err) {
    if (/Operation not permitted/i.test(String((err as Error).message))) {
      throw new CcmeshError(
        ErrorCode.IPTABLES_APPLY,
        `the ${family} policy routing (ip rule fwmark 0x${routing.mark.toString(16)} lookup ${routing.table}) is missing and this process may not add it: in a pod the initializer installs it as root before the sidecar starts (ccmesh iptables routing); run that step, or run this one with CAP_NET_ADMIN`,
        { cause: err },
      );
    }
    // The IPv6 local route lives on lo; a pod with IPv6 disabled on lo gets a cryptic iproute2 error otherwise.
    if (family !== 'v6' || !/IPv6 is disabled/i.test(String((err as Error).message))) throw err;
    throw new CcmeshError(
      ErrorCode.IPTABLES_APPLY,
      `installing the v6 policy routing failed: IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6=1) while the kernel has IPv6 (--ipv6 ${ipv6}); enable IPv6 on lo, or pass --ipv6 off to keep IPv6 closed by the guard instead of capturing it`,
      { cause: err },
    );
  }
}

/**
 * Installs the TPROXY policy routing of the default plan (marks and table of PLAN_DEFAULTS, the families `ipv6`
 * decides) — the initializer's half of the capture. Changing `ip rule`/`ip route` needs CAP_NET_ADMIN in the calling
 * process, which the non-root sidecar cannot hold through iproute2 (it drops file capabilities unless CAP_NET_ADMIN
 * is inheritable, and Kubernetes leaves the inheritable set empty). The initializer runs as root, so it adds the
 * routing; the sidecar's `applyPlan` then finds it present and only reads it (`ip -j … show` needs no privilege).
 * Returns the families routed. Idempotent.
 */
export async function applyPodRouting(exec: Executor, ipv6: Ipv6Mode = 'auto'): Promise<Family[]> {
  const families = [...(await resolveFamilies(exec, ipv6)).keys()];
  const routing: PolicyRouting = { mark: PLAN_DEFAULTS.tproxyMark, table: PLAN_DEFAULTS.routeTable, priority: PLAN_DEFAULTS.rulePriority };
  for (const family of families) await installRouting(exec, family, routing, ipv6);
  return families;
}

/** Verifies every family in `families` and merges the reports. */
export async function verifyPlan(exec: Executor, plan: Plan, families: FamilyTools): Promise<VerifyReport> {
  const reports: VerifyReport[] = [];
  for (const [family, tools] of families) reports.push(await verifyFamily(exec, tools, plan[family]));
  return mergeReports(reports);
}

/** Removes the plan's chains, jumps and policy routing from every family (the guard is left alone). Idempotent. */
export async function cleanupPlan(exec: Executor, plan: Plan, families: FamilyTools): Promise<void> {
  for (const [family, tools] of families) {
    await removeTables(exec, tools, plan[family].tables, `removing the ${family} capture rules`);
    await removeRouting(exec, family, plan[family].routing);
  }
}
