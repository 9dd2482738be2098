/** Security mutations of traffic capture: the guard, the plan, the read-back verification and the watchdog. */
import type { SecurityMutation } from '../types.js';

const VERIFY = 'iptables/verify.ts';
const GUARD = 'iptables/guard.ts';
const COVERAGE = 'iptables/coverage.ts';
const WATCHDOG = 'iptables/watchdog.ts';

export const IPTABLES_MUTATIONS: readonly SecurityMutation[] = [
  // Read-back verification: any difference from the plan is drift.
  {
    id: 'iptables-verify-ok-only-when-equal',
    defence: 'A report with any difference is not ok.',
    file: VERIFY,
    find: 'return { ok: r.missing.length + r.extra.length + r.changed.length === 0,',
    replace: 'return { ok: true,',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-chain-rules',
    defence: 'A rule missing from, added to or changed in one of our chains is drift.',
    file: VERIFY,
    find: 'if (want.length === got.length && want.every((w, i) => w === got[i])) return;',
    replace: 'return;',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-chain-order',
    defence: 'Our rules in another order are drift (order is semantics in a chain).',
    file: VERIFY,
    find: 'if (missing.length === 0 && remaining.length === 0) {',
    replace: 'if (false) {',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-missing-chain',
    defence: 'A planned chain that is absent is drift.',
    file: VERIFY,
    find: 'const found = saved?.rules.get(chain);',
    replace: 'const found = saved?.rules.get(chain) ?? [];',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-jump-first',
    defence: 'The jump into our chain must be the FIRST rule of its built-in chain (a rule above it could accept traffic before capture).',
    file: VERIFY,
    find: 'if (rules[0] !== want) {',
    replace: 'if (!rules.includes(want)) {',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-stray-jump',
    defence: 'Any jump into our chains besides the planned first-rule jumps is drift.',
    file: VERIFY,
    find: 'if (!isPlanned) report.extra.push(',
    replace: 'if (false) report.extra.push(',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-stray-chain',
    defence: 'A CCMESH_ chain the plan does not have is drift.',
    file: VERIFY,
    find: 'if (chain.startsWith(CHAIN_PREFIX) && !planned.has(chain) && !keep.has(chain)) report.extra.push(',
    replace: 'if (false) report.extra.push(',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-routing-rule',
    defence: 'A missing fwmark policy-routing rule (TPROXY delivery) is drift.',
    file: VERIFY,
    find: 'if (routing.rules === 0) report.missing.push(',
    replace: 'if (false) report.missing.push(',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-verify-routing-route',
    defence: 'A missing local default route of the TPROXY table is drift.',
    file: VERIFY,
    find: 'if (!routing.route) report.missing.push(',
    replace: 'if (false) report.missing.push(',
    tests: ['iptables/verify.test.ts'],
  },
  {
    id: 'iptables-capture-verify-refuses-drift',
    defence: 'The verify-rules startup stage throws when the read-back differs from the plan, so the guard is not lifted.',
    file: 'cli/commands/proxy-capture.ts',
    find: 'if (!report.ok) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `the rules read back differ from the plan; not lifting the guard',
    replace: 'if (false) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `the rules read back differ from the plan; not lifting the guard',
    tests: ['proxy/test/startup-drift.test.ts'],
    privileged: true,
  },

  // The guard.
  {
    id: 'iptables-guard-lift-refuses-unguardable',
    defence: 'Lifting the guard is refused (nothing touched) when IPv6 is configured but ip6tables is unusable.',
    file: GUARD,
    find: "const families = await guardFamilies(exec, 'lift the guard');",
    replace: "const families = (await guardScope(exec, 'lift the guard')).families;",
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-guard-lift-captured-only',
    defence: 'Only families with capture rules are opened; the others keep the guard (--ipv6 off).',
    file: GUARD,
    find: 'if (captured === undefined || captured.has(family)) await removeTables(',
    replace: 'if (true) await removeTables(',
    tests: ['cli/commands/proxy-capture.test.ts', 'iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-guard-install-refuses-unguardable',
    defence: 'Installing the guard guards IPv4 and then fails loudly when IPv6 cannot be guarded.',
    file: GUARD,
    find: "if (scope.unguardable.length > 0) throw unguardedError('install the guard', scope.unguardable);",
    replace: '',
    tests: ['iptables/coverage.test.ts'],
  },

  // Families: IPv6 is captured or guarded, never silently left open.
  {
    id: 'iptables-families-auto-needs-ip6tables',
    defence: '--ipv6 auto on a kernel with IPv6 but without usable ip6tables refuses to capture IPv4 only.',
    file: 'iptables/apply.ts',
    find: '  if (!v6) {\n    const now =',
    replace: '  if (false) {\n    const now =',
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-families-auto-asks-kernel',
    defence: '--ipv6 auto captures IPv6 whenever the kernel has it, not only when an address is configured at startup.',
    file: 'iptables/apply.ts',
    find: 'if (!probe.kernel) return out;',
    replace: 'if (probe.addresses.length === 0) return out;',
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-coverage-ipv6-appeared',
    defence: 'IPv6 that appeared after startup without capture rules is drift.',
    file: COVERAGE,
    find: "if (mode !== 'off') {",
    replace: 'if (false) {',
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-coverage-off-guard-intact',
    defence: 'With --ipv6 off, losing the IPv6 guard is drift.',
    file: COVERAGE,
    find: "if (await detectTools(exec, 'v6')) return verifyGuard(exec, ['v6']);",
    replace: "if (await detectTools(exec, 'v6')) return report([]);",
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-coverage-off-unguardable',
    defence: 'With --ipv6 off, IPv6 configured where ip6tables is unusable (neither captured nor guarded) is drift.',
    file: COVERAGE,
    find: 'if (probe.addresses.length === 0) return report([]);',
    replace: 'return report([]);',
    tests: ['iptables/coverage.test.ts'],
  },
  {
    id: 'iptables-coverage-checked-by-watchdog',
    defence: 'The watchdog checks family coverage beside the rules.',
    file: COVERAGE,
    find: 'return mergeReports([await verifyPlan(exec, plan, captured), await verifyCoverage(exec, plan.ipv6, captured)]);',
    replace: 'return verifyPlan(exec, plan, captured);',
    tests: ['iptables/coverage.test.ts', 'cli/commands/proxy-capture.test.ts'],
  },

  // The watchdog.
  {
    id: 'iptables-watchdog-guard-on-drift',
    defence: 'On drift the watchdog re-installs the guard.',
    file: WATCHDOG,
    find: '      await rt.installGuard();\n',
    replace: '',
    tests: ['iptables/watchdog.test.ts'],
  },
  {
    id: 'iptables-watchdog-error-is-drift',
    defence: 'A failing check (tool error) counts as drift: fail closed.',
    file: WATCHDOG,
    find: 'report = failedReport(err);',
    replace: 'return;',
    tests: ['iptables/watchdog.test.ts'],
  },
];
