/**
 * Which families get rules, which keep the guard, and what the watchdog calls drift when IPv6 shows up after
 * startup — on a FakeHost (test/support/iptables/fake-host.ts), so every kernel state can be set up without root, including a
 * kernel without IPv6 at all. The same behaviour in real namespaces: proxy/test/ipv6-late-netns.test.ts.
 */
import t from 'tap';
import { FieldReader } from '../lib/config/fields.js';
import { applyPlan, resolveFamilies } from './apply.js';
import { parseIptablesConfig } from './config.js';
import { verifyCapture, verifyCoverage } from './coverage.js';
import { installGuard, liftGuard, verifyGuard } from './guard.js';
import { buildPlan, type Ipv6Mode, type Plan } from './plan.js';
import { FakeHost } from '../test/support/iptables/fake-host.js';
import type { VerifyReport } from './verify.js';
import { startWatchdog } from './watchdog.js';
import { FakeWatchdogTimers } from '../test/support/iptables/fake-timers.js';

/** fd00:198:18::1 on eth0, as /proc/net/if_inet6 spells it. */
const ULA = 'fd000198001800000000000000000001@eth0';

function plan(ipv6: Ipv6Mode): Plan {
  const r = new FieldReader('test', { ingress: 'web#8080', ipv6 });
  const config = parseIptablesConfig(r);
  r.finish();
  return buildPlan(config);
}


const guardJump = (host: FakeHost, family: 'v4' | 'v6'): boolean => host.rules(family, 'filter', 'INPUT')[0] === '-j CCMESH_GUARD';

void t.test('--ipv6 auto on a kernel without IPv6 keeps working with IPv4 only', async (t) => {
  const noKernel = new FakeHost();
  noKernel.kernelIpv6 = false;
  t.same([...(await resolveFamilies(noKernel, 'auto')).keys()], ['v4'], 'a kernel without IPv6: IPv4 only, even though ip6tables works');
  noKernel.ip6tables = false;
  t.same([...(await resolveFamilies(noKernel, 'auto')).keys()], ['v4'], 'and without ip6tables too');
  const p = plan('auto');
  const families = await resolveFamilies(noKernel, 'auto');
  await applyPlan(noKernel, p, families);
  t.notOk(noKernel.calls.some((c) => (c.cmd === 'ip6tables-nft-restore' && c.stdin !== undefined) || (c.cmd === 'ip' && c.args.includes('-6'))), 'nothing IPv6 is applied');
  t.match(await verifyCapture(noKernel, p, families), { ok: true }, 'and the result verifies (v4 rules, no IPv6 to cover)');
});

void t.test('--ipv6 auto asks the kernel, not the addresses configured at startup', async (t) => {
  const noAddress = new FakeHost();
  t.same([...(await resolveFamilies(noAddress, 'auto')).keys()], ['v4', 'v6'], 'kernel IPv6 with no address on any interface yet: both families');

  const noTools = new FakeHost();
  noTools.ip6tables = false;
  await t.rejects(resolveFamilies(noTools, 'auto'), { code: 'CCMESH_ERR_IPTABLES_UNAVAILABLE', message: /--ipv6 auto: the kernel has IPv6 .*IPv6 can be enabled on any interface at any time, but ip6tables is not usable.*--ipv6 off/ }, 'kernel IPv6 without ip6tables is refused even before an address exists');
  noTools.addresses = [ULA];
  await t.rejects(resolveFamilies(noTools, 'auto'), { message: /IPv6 is configured \(fd00:198:18::1 on eth0\)/ }, 'naming the address when there is one');
  t.same([...(await resolveFamilies(noTools, 'off')).keys()], ['v4'], '--ipv6 off never needs ip6tables to start');

  const loOff = new FakeHost();
  loOff.loIpv6 = false;
  await t.rejects(applyPlan(loOff, plan('auto'), await resolveFamilies(loOff, 'auto')), { code: 'CCMESH_ERR_IPTABLES_APPLY', message: /IPv6 is disabled on lo \(net\.ipv6\.conf\.lo\.disable_ipv6=1\).*--ipv6 off/ }, 'IPv6 disabled on lo: a startup error that says what to do');
});

void t.test('the watchdog reports IPv6 appearing without rules as drift: guard in both families, unready', async (t) => {
  // A kernel without IPv6 at startup (ip6tables-save fails without it), so only v4 gets rules and a guard.
  const host = new FakeHost();
  host.kernelIpv6 = false;
  host.ip6tables = false;
  const p = plan('auto');
  await installGuard(host);
  const families = await resolveFamilies(host, 'auto');
  await applyPlan(host, p, families);
  await liftGuard(host, new Set(families.keys()));
  t.notOk(guardJump(host, 'v4'), 'started: v4 captured, guard lifted');

  const ac = new AbortController();
  const seen: string[] = [];
  const unready: VerifyReport[] = [];
  const wd = startWatchdog({
    verify: () => verifyCapture(host, p, families),
    installGuard: async () => {
      await installGuard(host);
      seen.push('guard');
    },
    onUnready: (r) => {
      seen.push('unready');
      unready.push(r);
    },
    intervalMs: 1000,
    signal: ac.signal,
    timers: new FakeWatchdogTimers(),
  });
  await wd.check();
  t.same(seen, [], 'no IPv6 yet: no drift');

  // IPv6 comes up (module loaded, interface enabled, address added); ip6tables works from now on.
  host.kernelIpv6 = true;
  host.ip6tables = true;
  host.addresses = [ULA];
  await wd.check();
  ac.abort();
  await wd.done;
  t.same(seen, ['guard', 'unready'], 'drift: the guard goes in first, then unready');
  t.match(unready[0], { ok: false, missing: [{ family: 'v6', table: 'coverage', rule: /IPv6 appeared after startup \(fd00:198:18::1 on eth0\).*no IPv6 capture rules/ }] }, 'the report names the new family');
  t.ok(guardJump(host, 'v4') && guardJump(host, 'v6'), 'the guard is in place in both families');
  t.match(await verifyGuard(host), { ok: true }, 'exactly as planned');
});

void t.test('--ipv6 off: IPv6 keeps the guard; losing it, or IPv6 nobody can guard, is drift', async (t) => {
  const host = new FakeHost();
  host.addresses = [ULA];
  const p = plan('off');
  await installGuard(host);
  const families = await resolveFamilies(host, 'off');
  await applyPlan(host, p, families);
  await liftGuard(host, new Set(families.keys()));
  t.notOk(guardJump(host, 'v4'), 'IPv4 (captured) is opened');
  t.ok(guardJump(host, 'v6'), 'IPv6 (not captured) keeps the guard');
  t.notOk(host.calls.some((c) => c.cmd === 'ip6tables-nft-restore' && c.stdin?.includes('CCMESH_INBOUND')), 'and gets no capture rules');
  t.match(await verifyCapture(host, p, families), { ok: true }, 'that state verifies');

  host.edit('v6', 'filter', 'INPUT', (rules) => rules.filter((r) => r !== '-j CCMESH_GUARD'));
  t.match(await verifyCoverage(host, 'off', families), { ok: false, missing: [{ family: 'v6', table: 'filter', rule: '-A INPUT -j CCMESH_GUARD' }] }, 'a removed IPv6 guard is drift');

  const blind = new FakeHost();
  blind.ip6tables = false;
  const v4only = await resolveFamilies(blind, 'off');
  t.match(await verifyCoverage(blind, 'off', v4only), { ok: true }, 'no ip6tables and no IPv6 address: nothing to guard');
  blind.addresses = [ULA];
  t.match(await verifyCoverage(blind, 'off', v4only), { ok: false, missing: [{ rule: /IPv6 is configured \(fd00:198:18::1 on eth0\) but ip6tables is not usable/ }] }, 'an IPv6 address appearing with no ip6tables is drift');
});

void t.test('installGuard guards IPv4 even when IPv6 cannot be guarded, then refuses', async (t) => {
  const host = new FakeHost();
  host.ip6tables = false;
  host.addresses = [ULA];
  await t.rejects(installGuard(host), { code: 'CCMESH_ERR_IPTABLES_IPV6_UNGUARDED', message: /fd00:198:18::1 on eth0/ });
  t.ok(guardJump(host, 'v4'), 'the IPv4 guard went in before the refusal');
  await t.rejects(liftGuard(host), { code: 'CCMESH_ERR_IPTABLES_IPV6_UNGUARDED' }, 'and lifting is refused');
  t.ok(guardJump(host, 'v4'), 'leaving IPv4 guarded');
});
