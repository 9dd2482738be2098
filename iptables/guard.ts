/**
 * The fail-closed inbound guard (DESIGN §4.1): filter INPUT → CCMESH_GUARD, first rule, for IPv4 and IPv6. It
 * accepts loopback, replies to connections the pod itself opened (ctdir REPLY — the initializer must hear back from
 * the Coordinator after installing the guard), IPv6 neighbour discovery, and drops everything else.
 *
 * Installing refuses to leave a family unguarded: IPv6 configured on an interface without usable ip6tables is an
 * error for `installGuard` (nothing could enforce the guard there) and for `liftGuard` (the one family we cannot
 * see could hold anything). Both are idempotent.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import { detectTools, type IptablesTools, saveTable } from './backend.js';
import { installTables, removeTables } from './apply.js';
import type { Executor } from './executor.js';
import { ipv6Configured } from './host-ipv6.js';
import { buildGuard, CHAIN, type Family, FAMILIES } from './plan.js';
import { parseSave } from './saved.js';
import { diffTable, finish, type VerifyReport } from './verify.js';

/** The tools of every family that must be guarded; throws when IPv6 exists but can't be guarded. */
export async function guardFamilies(exec: Executor, action: string): Promise<Map<Family, IptablesTools>> {
  const out = new Map<Family, IptablesTools>();
  const v4 = await detectTools(exec, 'v4');
  if (!v4) throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, `cannot ${action}: iptables is not usable here`);
  out.set('v4', v4);
  const v6 = await detectTools(exec, 'v6');
  if (v6) {
    out.set('v6', v6);
    return out;
  }
  const addrs = await ipv6Configured(exec);
  if (addrs.length > 0) {
    throw new CcmeshError(
      ErrorCode.IPTABLES_IPV6_UNGUARDED,
      `refusing to ${action}: IPv6 is configured (${addrs.map((a) => `${a.address} on ${a.interface}`).join(', ')}) but ip6tables is not usable, so IPv6 traffic could not be controlled; install ip6tables or disable IPv6 in the pod`,
    );
  }
  return out;
}

/** Installs the guard in every family (re-installs it exactly if it drifted). */
export async function installGuard(exec: Executor): Promise<void> {
  for (const [family, tools] of await guardFamilies(exec, 'install the guard')) {
    await installTables(exec, tools, [buildGuard(family)], `installing the ${family} guard`);
  }
}

/** Lifts the guard from every family. */
export async function liftGuard(exec: Executor): Promise<void> {
  // SECURITY: checked before touching anything, so a refusal leaves every family guarded.
  const families = await guardFamilies(exec, 'lift the guard');
  for (const [family, tools] of families) {
    await removeTables(exec, tools, [buildGuard(family)], `lifting the ${family} guard`);
  }
}

/** Whether the guard is fully in place in every family present here (exact rules, jump first in INPUT). */
export async function verifyGuard(exec: Executor): Promise<VerifyReport> {
  const report = { missing: [], extra: [], changed: [] };
  for (const family of FAMILIES) {
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
