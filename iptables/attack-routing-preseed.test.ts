/**
 * Attacker review (commit e20b4e9, "ccmesh iptables routing"): TPROXY capture of the pod's outbound traffic works by
 * marking the packets (mangle OUTPUT) and routing every marked packet through table 133 (`local default dev lo`) by
 * one `ip rule fwmark 0x1/0x1 lookup 133 priority 32000`. The initializer adds that rule only when it is missing, and
 * the sidecar's verify (and the watchdog) only check that it is present — never that no rule before it takes the
 * marked packets first. Whoever set up the pod's network namespace (the host, through the runtime's interface and
 * route setup, before any ccmesh code runs) can leave a rule at a lower priority, e.g. `fwmark 0x1/0x1 lookup main
 * priority 100`: then everything passes — routing installed, plan verified — while marked packets follow the main
 * table out of the pod's interface instead of reaching the sidecar: an app connection the sidecar should have carried
 * over mTLS leaves the pod in plaintext.
 *
 * Fixed here: readRouting lists the rules the kernel evaluates before ours (anything but its own `0: from all lookup
 * local`); the initializer's routing step and the sidecar's apply refuse to run with any (the guard stays, the pod
 * never opens), and verify reports them as drift (`routing`/`rule-ahead`), so the watchdog re-guards.
 */
import t from 'tap';
import { FieldReader } from '../lib/config/fields.js';
import { applyPlan, applyPodRouting, resolveFamilies, verifyPlan } from './apply.js';
import { parseIptablesConfig } from './config.js';
import { buildPlan, PLAN_DEFAULTS } from './plan.js';
import { ADDR, NetnsPair, privilegedSkipReason } from '../test/support/iptables/netns-harness.js';

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping network-namespace tests: ${reason}`);
  t.pass('network-namespace tests', { skip: reason });
} else {
  void t.test('attack: a rule left before ccmesh\'s takes the marked (captured) packets out of the pod', async (t) => {
    const r = new FieldReader('test', { ingress: 'web#8080', ipv6: 'off' });
    const plan = buildPlan(parseIptablesConfig(r));
    r.finish();
    const mark = `0x${PLAN_DEFAULTS.tproxyMark.toString(16)}`;
    /** Where the pod routes a packet to the client's address carrying the capture mark. */
    const routeOfMarked = async (pair: NetnsPair): Promise<string> => {
      const got = await pair.podExec.run('ip', ['-4', 'route', 'get', ADDR.client4, 'mark', mark]);
      t.equal(got.code, 0, `ip route get ${ADDR.client4} mark ${mark}: ${got.stderr.trim()}`);
      return got.stdout.trim();
    };

    // Control: the pod's namespace as ccmesh sets it up: a marked packet is delivered locally (to the sidecar).
    const clean = await NetnsPair.create({ prefix: 'atkrt' });
    t.teardown(() => clean.destroy());
    await applyPodRouting(clean.podExec, 'off');
    await applyPlan(clean.podExec, plan, await resolveFamilies(clean.podExec, plan.ipv6));
    t.match(await routeOfMarked(clean), /^local /, 'control: marked packets go to lo, where TPROXY hands them to the sidecar');

    // The attack: the namespace arrives with one extra rule ahead of ccmesh's priority.
    const pair = await NetnsPair.create({ prefix: 'atkrt' });
    t.teardown(() => pair.destroy());
    const seed = ['-4', 'rule', 'add', 'fwmark', `${mark}/${mark}`, 'lookup', 'main', 'priority', '100'];
    t.equal((await pair.podExec.run('ip', seed)).code, 0, 'the host leaves `fwmark 0x1/0x1 lookup main priority 100` in the pod\'s namespace');
    t.notMatch(await routeOfMarked(pair), /^local /, 'with it, marked packets leave through the pod\'s interface');
    await t.rejects(applyPodRouting(pair.podExec, 'off'), { message: /rules ahead of ccmesh's .*"priority":100/ }, 'the initializer\'s routing step refuses it (the guard stays, the pod never opens)');
    await t.rejects(applyPlan(pair.podExec, plan, await resolveFamilies(pair.podExec, plan.ipv6)), { message: /rules ahead of ccmesh's/ }, 'and so does the sidecar\'s apply');

    // Drift: the same rule added after a clean start is caught by verify (and so by the watchdog).
    t.equal((await clean.podExec.run('ip', seed)).code, 0, 'the rule added later to the clean namespace');
    t.notMatch(await routeOfMarked(clean), /^local /, 'marked packets now leave the pod');
    const report = await verifyPlan(clean.podExec, plan, await resolveFamilies(clean.podExec, plan.ipv6));
    t.match(report, { ok: false, extra: [{ table: 'routing', chain: 'rule-ahead', rule: /"priority":100/ }] }, 'verify reports the rule ahead of ours as drift');

    // The same through our own table: a more specific route there wins over `local default`.
    const third = await NetnsPair.create({ prefix: 'atkrt' });
    t.teardown(() => third.destroy());
    const half = ['-4', 'route', 'add', '0.0.0.0/1', 'dev', third.podIf, 'table', String(PLAN_DEFAULTS.routeTable)];
    t.equal((await third.podExec.run('ip', half)).code, 0, 'the host leaves `0.0.0.0/1 dev <pod interface> table 133`');
    await t.rejects(applyPodRouting(third.podExec, 'off'), { message: /other routes in its table.*0\.0\.0\.0\/1/ }, 'the routing step refuses a foreign route in the capture table');
  });
}
