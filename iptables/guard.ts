/**
 * The fail-closed inbound guard (docs/design.md §4.1): filter INPUT → CCMESH_GUARD, first rule, for IPv4 and IPv6. It
 * accepts loopback, replies to connections the pod itself opened (ctdir REPLY — the initializer must hear back from
 * the Coordinator after installing the guard), IPv6 neighbour discovery, and drops everything else.
 *
 * Installing refuses to leave a family unguarded: IPv6 configured on an interface without usable ip6tables is an
 * error for `installGuard` (nothing could enforce the guard there; IPv4 is guarded anyway) and for `liftGuard` (the
 * one family we cannot see could hold anything). `liftGuard` lifts only the families that have capture rules; the
 * others keep the guard. Both are idempotent.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { detectTools, type IptablesTools, saveTable } from './backend.js';
import { installTables, removeTables } from './apply.js';
import type { Executor } from './executor.js';
import { describeAddresses, type Inet6Address, ipv6Configured } from './host-ipv6.js';
import { buildGuard, CHAIN, type Family, FAMILIES } from './plan.js';
import { parseSave } from './saved.js';
import { diffTable, finish, type VerifyReport } from './verify.js';

/** The families whose guard this host can control, and the IPv6 addresses nothing could guard (no ip6tables). */
interface GuardScope {
  readonly families: Map<Family, IptablesTools>;
  readonly unguardable: readonly Inet6Address[];
}

async function guardScope(exec: Executor, action: string): Promise<GuardScope> {
  const families = new Map<Family, IptablesTools>();
  const v4 = await detectTools(exec, 'v4');
  if (!v4) throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, `cannot ${action}: iptables is not usable here`);
  families.set('v4', v4);
  const v6 = await detectTools(exec, 'v6');
  if (v6) families.set('v6', v6);
  return { families, unguardable: v6 ? [] : await ipv6Configured(exec) };
}

function unguardedError(action: string, addrs: readonly Inet6Address[]): CcmeshError {
  return new CcmeshError(
    ErrorCode.IPTABLES_IPV6_UNGUARDED,
    `refusing to ${action}: IPv6 is configured (${describeAddresses(addrs)}) but ip6tables is not usable, so IPv6 traffic could not be controlled; install ip6tables or disable IPv6 in the pod`,
  );
}

/** The tools of every family that must be guarded; throws when IPv6 exists but can't be guarded. */
export async function guardFamilies(exec: Executor, action: string): Promise<Map<Family, IptablesTools>> {
  const scope = await guardScope(exec, action);
  if (scope.unguardable.length > 0) throw unguardedError(action, scope.unguardable);
  return scope.families;
}

/**
 * Installs the guard in every family (re-installs it exactly if it drifted). When IPv6 is configured but ip6tables
 * is unusable it still guards IPv4 first and then throws: the watchdog calls this on drift, and half closed beats open.
 */
export async function installGuard(exec: Executor): Promise<void> {
  const scope = await guardScope(exec, 'install the guard');
  for (const [family, tools] of scope.families) {
    await installTables(exec, tools, [buildGuard(family)], `installing the ${family} guard`);
  }
  if (scope.unguardable.length > 0) throw unguardedError('install the guard', scope.unguardable);
}

/**
 * Lifts the guard from the `captured` families (default: every family) and installs it in every other family this
 * host can guard, so a family without capture rules (`--ipv6 off`) stays closed instead of opening with the rest.
 */
export async function liftGuard(exec: Executor, captured?: ReadonlySet<Family>): Promise<void> {
  // SECURITY: checked before touching anything, so a refusal leaves every family guarded.
  const families = await guardFamilies(exec, 'lift the guard');
  for (const [family, tools] of families) {
    if (captured === undefined || captured.has(family)) await removeTables(exec, tools, [buildGuard(family)], `lifting the ${family} guard`);
    else await installTables(exec, tools, [buildGuard(family)], `keeping the ${family} guard (no ${family} capture rules)`);
  }
}

/** Whether the guard is fully in place in every family present here, or in `only` (exact rules, jump first). */
export async function verifyGuard(exec: Executor, only: readonly Family[] = FAMILIES): Promise<VerifyReport> {
  const report = { missing: [], extra: [], changed: [] };
  for (const family of only) {
    const tools = await detectTools(exec, family);
    if (!tools) continue;
    const saved = parseSave(await saveTable(exec, tools, 'filter')).get('filter');
    diffTable(family, 'filter', saved, buildGuard(family), new Set<string>(), report);
  }
  return finish(report);
}

/** True when the guard chain exists in `family`'s filter table (whatever its state). */
export async function guardPresent(exec: Executor, tools: IptablesTools): Promise<boolean> {
  return parseSave(await saveTable(exec, tools, 'filter')).get('filter')?.chains.includes(CHAIN.guard) ?? false;
}
