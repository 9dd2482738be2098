/**
 * The policy routing TPROXY needs (iproute2): packets carrying the tproxy mark are looked up in a table whose only
 * route is `local default dev lo`, so the kernel delivers them locally even when their destination address is not
 * ours (captured outbound traffic, which keeps the remote's address). Read with `ip -j` (JSON), changed only when
 * missing, so applying twice changes nothing.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import type { Executor } from './executor.js';
import type { Family, PolicyRouting } from './plan.js';

interface IpRuleJson {
  readonly priority?: number;
  readonly src?: string;
  readonly fwmark?: string;
  readonly fwmask?: string;
  readonly table?: string;
}

interface IpRouteJson {
  readonly type?: string;
  readonly dst?: string;
  readonly dev?: string;
}

/**
 * What of the policy routing is present: how many matching `ip rule`s, whether the local route exists, and what could
 * take marked packets elsewhere (`ahead`): the rules the kernel evaluates before ours (as `ip -j rule show` prints
 * them) other than its own `0: from all lookup local`, and any other route in our table.
 */
export interface RoutingState {
  readonly rules: number;
  readonly route: boolean;
  readonly ahead: readonly string[];
}

/**
 * The kernel's first rule, `0: from all lookup local`: the only one allowed ahead of ours. Matched by priority and
 * table alone (iproute2 versions differ in the keys they print): the local table only delivers to the pod's own
 * addresses, so no rule of it can take a captured packet elsewhere.
 */
function isKernelLocalRule(r: IpRuleJson): boolean {
  return r.priority === 0 && r.table === 'local';
}

const flag = (family: Family): string => (family === 'v4' ? '-4' : '-6');

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

async function ipJson<T>(exec: Executor, args: string[]): Promise<T[]> {
  const r = await exec.run('ip', ['-j', ...args]);
  // An IPv4 routing table that was never written to does not exist yet: that is "no routes", not an error.
  if (r.code !== 0 && /FIB table does not exist/.test(r.stderr)) return [];
  if (r.code !== 0) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `ip ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  if (r.stdout.trim() === '') return [];
  try {
    return JSON.parse(r.stdout) as T[];
  } catch (err) {
    throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `ip ${args.join(' ')} printed something that is not JSON`, { cause: err });
  }
}

/** Reads the policy routing of `family`. */
export async function readRouting(exec: Executor, family: Family, want: PolicyRouting): Promise<RoutingState> {
  const rules = await ipJson<IpRuleJson>(exec, [flag(family), 'rule', 'show']);
  const table = String(want.table);
  const ours = (r: IpRuleJson): boolean => r.table === table && r.fwmark === hex(want.mark) && r.fwmask === hex(want.mark) && r.priority === want.priority;
  const matching = rules.filter(ours);
  // SECURITY: a rule the kernel evaluates first can take the marked (captured) packets elsewhere — e.g. `fwmark 0x1
  // lookup main` left by whoever set up the namespace sends them out of the pod's interface in plaintext — while ours
  // is present. `ip rule show` lists in evaluation order; before ours is added, every rule of its priority or lower
  // would precede it.
  const first = rules.findIndex(ours);
  const before = first >= 0 ? rules.slice(0, first) : rules.filter((r) => (r.priority ?? 0) <= want.priority);
  const ahead = before.filter((r) => !isKernelLocalRule(r)).map((r) => JSON.stringify(r));
  const routes = await ipJson<IpRouteJson>(exec, [flag(family), 'route', 'show', 'table', table]);
  const isOurs = (r: IpRouteJson): boolean => r.type === 'local' && r.dst === 'default' && r.dev === 'lo';
  const route = routes.some(isOurs);
  // SECURITY: a more specific route in our table (`0.0.0.0/1 dev eth0 table 133`) wins over `local default` for the
  // marked packets just as a rule ahead of ours does.
  const others = routes.filter((r) => !isOurs(r)).map((r) => `route in table ${table}: ${JSON.stringify(r)}`);
  return { rules: matching.length, route, ahead: [...ahead, ...others] };
}

async function ip(exec: Executor, args: string[]): Promise<void> {
  const r = await exec.run('ip', args);
  if (r.code !== 0) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `ip ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

function ruleArgs(family: Family, want: PolicyRouting): string[] {
  return [flag(family), 'rule', '%', 'fwmark', `${hex(want.mark)}/${hex(want.mark)}`, 'lookup', String(want.table), 'priority', String(want.priority)];
}

function routeArgs(family: Family, want: PolicyRouting): string[] {
  return [flag(family), 'route', '%', 'local', family === 'v4' ? '0.0.0.0/0' : '::/0', 'dev', 'lo', 'table', String(want.table)];
}

/** Adds what is missing (one rule, one route); removes duplicate rules. Refuses when another rule precedes ours. */
export async function applyRouting(exec: Executor, family: Family, want: PolicyRouting): Promise<void> {
  const now = await readRouting(exec, family, want);
  if (now.ahead.length > 0) {
    throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `the ${family} policy routing has rules ahead of ccmesh's (fwmark ${hex(want.mark)} lookup ${want.table} priority ${want.priority}), or other routes in its table, that could take captured packets out of the pod: ${now.ahead.join(', ')}; remove them (only the kernel's "0: from all lookup local" may come first, and table ${want.table} holds only "local default dev lo")`);
  }
  if (now.rules === 0) await ip(exec, ruleArgs(family, want).map((a) => (a === '%' ? 'add' : a)));
  for (let i = 1; i < now.rules; i++) await ip(exec, ruleArgs(family, want).map((a) => (a === '%' ? 'del' : a)));
  if (!now.route) await ip(exec, routeArgs(family, want).map((a) => (a === '%' ? 'replace' : a)));
}

/** Removes the rule(s) and the route if present. */
export async function removeRouting(exec: Executor, family: Family, want: PolicyRouting): Promise<void> {
  const now = await readRouting(exec, family, want);
  for (let i = 0; i < now.rules; i++) await ip(exec, ruleArgs(family, want).map((a) => (a === '%' ? 'del' : a)));
  if (now.route) await ip(exec, routeArgs(family, want).map((a) => (a === '%' ? 'del' : a)));
}
