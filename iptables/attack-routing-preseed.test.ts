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
 * Proposed fix: readRouting/verify also list the rules whose priority is below ours and refuse any that could match
 * a marked packet (anything other than the kernel's `0: from all lookup local`), in the initializer's routing step
 * (exit non-zero, the guard stays) and in the sidecar's verify and watchdog (drift).
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
    const seeded = await pair.podExec.run('ip', ['-4', 'rule', 'add', 'fwmark', `${mark}/${mark}`, 'lookup', 'main', 'priority', '100']);
    t.equal(seeded.code, 0, 'the host leaves `fwmark 0x1/0x1 lookup main priority 100` in the pod\'s namespace');
    let refused: unknown;
    try {
      await applyPodRouting(pair.podExec, 'off'); // the initializer, as root
      const families = await resolveFamilies(pair.podExec, plan.ipv6);
      await applyPlan(pair.podExec, plan, families); // the sidecar
      const report = await verifyPlan(pair.podExec, plan, families);
      if (!report.ok) refused = report;
    } catch (err) {
      refused = err;
    }
    const route = await routeOfMarked(pair);
    t.ok(refused !== undefined || /^local /.test(route), `the pre-seeded rule is refused (routing step, apply or verify), or marked packets still reach the sidecar; got: routing and verify passed, marked packets routed "${route}"`);
  });
}
