import t from 'tap';
import { installGuard } from '../../iptables/guard.js';
import { FakeHost } from '../../test/support/iptables/fake-host.js';
import { ConfigError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { PROXY_UID } from '../../lib/pod-layout.js';
import { PROXY_FLAGS, readProxyConfig } from '../../proxy/config.js';
import { readCommandFlags } from '../flags.js';
import { buildCaptureHooks, readCaptureConfig } from './proxy-capture.js';
import { FakeWatchdogTimers } from '../../test/support/iptables/fake-timers.js';

function parse(argv: string[], uid = 0): ReturnType<typeof readCaptureConfig> {
  const { tok, r } = readCommandFlags('proxy', argv, PROXY_FLAGS);
  readProxyConfig(r, tok.lists);
  const capture = readCaptureConfig(r, tok.values, uid);
  r.finish();
  return capture;
}

void t.test('capture flags of ccmesh proxy', (t) => {
  const c = parse(['--ingress', 'web#8080##pub#8443#tls', '--ipv6', 'off', '--exclude-ports', '9100', '--watchdog-interval', '2s']);
  t.equal(c.plan.ipv6, 'off');
  t.equal(c.watchdogIntervalMs, 2000);
  const inbound = c.plan.v4.tables[0]!.rules.filter((r) => r.chain === 'CCMESH_INBOUND').map((r) => r.spec.join(' '));
  t.ok(inbound.some((r) => r.includes('--dport 9100 -j RETURN')), 'excluded port passed through to the plan');
  t.ok(inbound.some((r) => r.includes('--dport 8443 -j TPROXY --on-port 15007')), 'tls port to 15007');
  const err = t.throws(() => parse(['--ingress', 'bad#x##web#15006', '--egress-capture', '10.0.0.0/8', '--ipv6', 'maybe'])) as ConfigError;
  t.ok(err instanceof ConfigError);
  const fields = err.issues.map((i) => i.field);
  t.equal(fields.filter((f) => f.startsWith('--ingress[')).length, 1, 'the ingress grammar issue is reported once');
  t.ok(fields.includes('--ingress'), 'a mesh port as an ingress port is refused');
  t.ok(fields.includes('--ipv6'));
  t.match(err.message, /--egress-capture: .*uid 1337 \(PROXY_UID; it runs as uid 0\)/, 'egress capture refused unless running as the proxy uid');
  t.end();
});

void t.test('--egress-capture as the proxy uid: plan marks the blocks, exempts the uid, starts 15001', (t) => {
  const argv = ['--ingress', 'web#8080', '--egress-capture', '198.18.0.1/32,fd00:198:18::1/128', '--ipv6', 'on'];
  const c = parse(argv, PROXY_UID);
  const out4 = c.plan.v4.tables[0]!.rules.filter((r) => r.chain === 'CCMESH_OUTPUT').map((r) => r.spec.join(' '));
  t.ok(out4.some((r) => r.includes(`--uid-owner ${PROXY_UID} -j RETURN`)), 'the proxy uid is exempt');
  t.ok(out4.some((r) => r.startsWith('-d 198.18.0.1/32 -p tcp -j MARK')), 'the v4 block is marked');
  const pre6 = c.plan.v6.tables[0]!.rules.filter((r) => r.chain === 'CCMESH_PREROUTING').map((r) => r.spec.join(' '));
  t.ok(pre6.some((r) => r.includes('TPROXY --on-port 15001')), 'the v6 loop lands on 15001');
  const { tok, r } = readCommandFlags('proxy', argv, PROXY_FLAGS);
  const cfg = readProxyConfig(r, tok.lists);
  t.same(cfg.transparentOutbound, { port: 15001, ownPorts: [15006, 15007, 15001, 15020], capturedPorts: [] }, 'the proxy config carries the outbound listener');
  const { tok: tok2, r: r2 } = readCommandFlags('proxy', ['--ingress', 'web#8080'], PROXY_FLAGS);
  t.equal(readProxyConfig(r2, tok2.lists).transparentOutbound, undefined, 'no outbound listener without --egress-capture');
  t.end();
});


const INPUT_GUARD = '-j CCMESH_GUARD';

void t.test('capture hooks, --ipv6 auto: IPv6 appearing after startup without rules is drift (guard back, unready)', async (t) => {
  // A kernel without IPv6 at startup: only v4 gets rules. The initializer's guard is v4 only (ip6tables unusable).
  const host = new FakeHost();
  host.kernelIpv6 = false;
  host.ip6tables = false;
  await installGuard(host);
  const timers = new FakeWatchdogTimers();
  const hooks = buildCaptureHooks(parse(['--ingress', 'web#8080']), host, silentLogger, timers);
  await hooks.applyRules!();
  await hooks.verifyRules!();
  await hooks.liftGuard!();
  const events: string[] = [];
  const wd = hooks.startWatchdog!({ drift: (reason) => events.push(`drift: ${reason}`), guard: (g) => events.push(`guard: ${g}`) });
  t.teardown(() => wd.stop());
  await timers.tick();
  t.same(events, [], 'no IPv6: ready, no drift');

  host.kernelIpv6 = true;
  host.ip6tables = true;
  host.addresses = ['fd000198001800000000000000000001@eth0'];
  await timers.tick();
  t.equal(events[0], 'guard: installed', 'the guard goes back in first');
  t.match(events[1], /^drift: [\s\S]*IPv6 appeared after startup \(fd00:198:18::1 on eth0\)/, 'then the proxy is told to go unready, with the reason');
  t.equal(host.rules('v6', 'filter', 'INPUT')[0], INPUT_GUARD, 'the IPv6 guard is in place');
  t.equal(host.rules('v4', 'filter', 'INPUT')[0], INPUT_GUARD, 'and the IPv4 guard');
});

void t.test('capture hooks, --ipv6 off: the IPv6 guard stays when the guard is lifted', async (t) => {
  const host = new FakeHost();
  host.addresses = ['fd000198001800000000000000000001@eth0'];
  await installGuard(host);
  const hooks = buildCaptureHooks(parse(['--ingress', 'web#8080', '--ipv6', 'off']), host, silentLogger, new FakeWatchdogTimers());
  await hooks.applyRules!();
  await hooks.verifyRules!();
  await hooks.liftGuard!();
  t.notOk(host.rules('v4', 'filter', 'INPUT').includes(INPUT_GUARD), 'IPv4 (captured) is opened');
  t.equal(host.rules('v6', 'filter', 'INPUT')[0], INPUT_GUARD, 'IPv6 (not captured) stays guarded');
  t.same(host.rules('v6', 'mangle', 'PREROUTING'), [], 'and has no capture rules');
});
