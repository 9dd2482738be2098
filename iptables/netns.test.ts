/**
 * Privileged tier: the rules in real network namespaces (a "pod" and a "client" joined by veth). Skips with the
 * reason when not root or the tools are missing — and fails instead when CI is set. Every namespace, agent and rule
 * is removed in teardown (deleting the namespaces takes the rules and routes with them).
 */
import t from 'tap';
import { iptablesCommand } from '../cli/commands/iptables.js';
import { FieldReader } from '../lib/config/fields.js';
import { applyPlan, applyPodRouting, resolveFamilies, verifyPlan } from './apply.js';
import type { Executor } from './executor.js';
import { readRouting } from './policy-routing.js';
import { parseIptablesConfig } from './config.js';
import { installGuard, liftGuard, verifyGuard } from './guard.js';
import { buildPlan, type Plan } from './plan.js';
import { ADDR, type Agent, NetnsPair, privilegedSkipReason } from '../test/support/iptables/netns-harness.js';
import { startWatchdog } from './watchdog.js';

const INGRESS = 'web#8080##api#8443#tls##plainapp#8081#plain';

function testPlan(): Plan {
  const r = new FieldReader('test', { ingress: INGRESS, ipv6: 'on' });
  const config = parseIptablesConfig(r);
  r.finish();
  return buildPlan(config);
}

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping network-namespace tests: ${reason}`);
  t.pass('network-namespace tests', { skip: reason });
} else {
  void t.test('capture, guard, verify and watchdog in real network namespaces', async (t) => {
    const pair = await NetnsPair.create();
    t.teardown(() => pair.destroy());
    const plan = testPlan();
    const pod = pair.agent('pod');
    const client = pair.agent('client');
    const connect = (host: string, port: number, a: Agent = client): Promise<Record<string, unknown>> => a.request({ op: 'connect', host, port, timeoutMs: 1500 });
    const send = (conn: Record<string, unknown>, text: string, a: Agent = client): Promise<Record<string, unknown>> => a.request({ op: 'send', conn: conn.id, text, timeoutMs: 1000 });

    // The app listens on its ports; the proxy's capture listeners are transparent and dual-stack.
    for (const port of [8080, 8081, 8443]) t.match(await pod.request({ op: 'listen', host: '::', port }), { ok: true }, `app listens on ${port}`);
    for (const port of [15006, 15007]) t.match(await pod.request({ op: 'listen', host: '::', port, transparent: true }), { ok: true }, `transparent listener on ${port}`);

    // (e) part 1: a connection opened before the mesh exists.
    const early = await connect(ADDR.pod4, 8080);
    t.match(early, { ok: true }, 'a connection before apply is established');
    t.match(await send(early, 'before'), { ok: true, data: '8080:before' }, 'and carries data straight to the app');

    const families = await resolveFamilies(pair.podExec, plan.ipv6);
    t.same([...families.keys()], ['v4', 'v6'], 'both families resolved');
    await applyPlan(pair.podExec, plan, families);
    t.match(await verifyPlan(pair.podExec, plan, families), { ok: true, missing: [], extra: [], changed: [] }, 'verify matches right after apply');
    await applyPlan(pair.podExec, plan, families);
    t.match(await verifyPlan(pair.podExec, plan, families), { ok: true }, 'applying twice is idempotent (no duplicate jumps or ip rules)');

    await t.test('(e) a connection established before apply is cut', async (t) => {
      t.match(await send(early, 'after'), { ok: false, error: 'timeout' }, 'its next packets are dropped');
    });

    await t.test('(a) IPv4: an app port reaches the capture listener with the original destination', async (t) => {
      const c = await connect(ADDR.pod4, 8080);
      t.match(c, { ok: true });
      const ev = await pod.event((e) => e.port === 15006 && e.localPort === 8080 && String(e.localAddress).endsWith(ADDR.pod4));
      t.ok(ev, 'accepted on 15006 with localAddress/localPort = 198.18.0.1:8080');
      t.match(await send(c, 'x'), { ok: true, data: '15006:x' }, 'the data flows through the capture listener');
      const tls = await connect(ADDR.pod4, 8443);
      t.match(tls, { ok: true });
      t.ok(await pod.event((e) => e.port === 15007 && e.localPort === 8443), 'a tls port goes to the TLS-only listener');
      const unlisted = await connect(ADDR.pod4, 9999);
      t.match(unlisted, { ok: true }, 'an unlisted port is captured too (restrictive default)');
      t.ok(await pod.event((e) => e.port === 15006 && e.localPort === 9999), 'and lands on the mTLS listener');
    });

    await t.test('(b) a plain port bypasses capture', async (t) => {
      const c = await connect(ADDR.pod4, 8081);
      t.match(c, { ok: true });
      t.match(await send(c, 'p'), { ok: true, data: '8081:p' }, 'answered by the app itself');
      t.notOk(pod.events.some((e) => e.port === 15006 && e.localPort === 8081), 'the capture listener never saw it');
    });

    await t.test('(c) IPv6: the same capture', async (t) => {
      const c = await connect(ADDR.pod6, 8080);
      t.match(c, { ok: true });
      t.ok(await pod.event((e) => e.port === 15006 && e.localPort === 8080 && e.localAddress === ADDR.pod6), 'accepted on 15006 with [fd00:198:18::1]:8080');
      const p = await connect(ADDR.pod6, 8081);
      t.match(await send(p, 'q'), { ok: true, data: '8081:q' }, 'plain port bypasses over IPv6 too');
    });

    await t.test('(f) verify catches a deleted rule, an added rule and a changed target', async (t) => {
      const ipt = async (...args: string[]): Promise<void> => {
        const r = await pair.podExec.run('iptables', ['-w', '5', '-t', 'mangle', ...args]);
        t.equal(r.code, 0, `iptables ${args.join(' ')}`);
      };
      await ipt('-D', 'CCMESH_INBOUND', '-p', 'tcp', '-m', 'tcp', '--dport', '8081', '-j', 'RETURN');
      let r = await verifyPlan(pair.podExec, plan, families);
      t.match(r, { ok: false, missing: [{ family: 'v4', chain: 'CCMESH_INBOUND', rule: '-A CCMESH_INBOUND -p tcp --dport 8081 -j RETURN' }], extra: [], changed: [] }, 'deleted rule is missing');
      await applyPlan(pair.podExec, plan, families);
      await ipt('-A', 'CCMESH_INBOUND', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT');
      r = await verifyPlan(pair.podExec, plan, families);
      t.match(r, { ok: false, missing: [], extra: [{ rule: '-A CCMESH_INBOUND -p tcp --dport 22 -j ACCEPT' }], changed: [] }, 'added rule is extra');
      await applyPlan(pair.podExec, plan, families);
      // Rule 4 of CCMESH_INBOUND (after the 8081 and 15020 returns and the CONNMARK) is the stale-flow DROP; turn it into an ACCEPT.
      await ipt('-R', 'CCMESH_INBOUND', '4', '-p', 'tcp', '-m', 'connmark', '!', '--mark', '0x2/0x2', '-j', 'ACCEPT');
      r = await verifyPlan(pair.podExec, plan, families);
      t.equal(r.changed.length, 1, 'changed target reported as one change');
      t.match(r.changed[0], { want: /-j DROP$/, got: /-j ACCEPT$/ });
      const out: string[] = [];
      const code = await iptablesCommand(['verify', '--ingress', INGRESS, '--ipv6', 'on'], { stdout: (s) => out.push(s), stderr: (s) => out.push(s) }, pair.podExec);
      t.equal(code, 3, 'the CLI exits 3');
      t.match(out.join(''), /~ \[v4 mangle\] want: -A CCMESH_INBOUND .* -j DROP/, 'with a readable diff');
      const r6 = await pair.podExec.run('ip6tables', ['-w', '5', '-t', 'mangle', '-D', 'PREROUTING', '-j', 'CCMESH_PREROUTING']);
      t.equal(r6.code, 0);
      r = await verifyPlan(pair.podExec, plan, families);
      t.ok(r.missing.some((d) => d.family === 'v6' && d.rule === '-A PREROUTING -j CCMESH_PREROUTING'), 'a missing v6 jump is reported');
      await applyPlan(pair.podExec, plan, families);
      t.match(await verifyPlan(pair.podExec, plan, families), { ok: true }, 're-apply repairs everything');
    });

    await t.test('(g) the watchdog re-guards on drift', async (t) => {
      const ac = new AbortController();
      const unready: unknown[] = [];
      let resolveUnready!: () => void;
      const sawUnready = new Promise<void>((r) => (resolveUnready = r));
      const wd = startWatchdog({
        verify: () => verifyPlan(pair.podExec, plan, families),
        installGuard: () => installGuard(pair.podExec),
        onUnready: (rep) => {
          unready.push(rep);
          resolveUnready();
        },
        intervalMs: 100,
        signal: ac.signal,
      });
      await wd.check();
      t.equal(unready.length, 0, 'no drift, no report');
      t.match(await verifyGuard(pair.podExec), { ok: false }, 'no guard yet');
      await pair.podExec.run('ip', ['-4', 'rule', 'del', 'fwmark', '0x1/0x1', 'lookup', '133']);
      await Promise.race([sawUnready, new Promise((r) => setTimeout(r, 3000))]);
      ac.abort();
      await wd.done;
      t.ok(unready.length >= 1, 'onUnready called');
      t.match(unready[0], { ok: false, missing: [{ table: 'routing', chain: 'rule' }] });
      t.match(await verifyGuard(pair.podExec), { ok: true }, 'the guard is installed');
      t.match(await connect(ADDR.pod4, 8081), { ok: false }, 'and the pod is closed');
      await liftGuard(pair.podExec);
      await applyPlan(pair.podExec, plan, families);
    });

    await t.test('(d) the guard drops everything but loopback; lifting restores traffic', async (t) => {
      await installGuard(pair.podExec);
      await installGuard(pair.podExec);
      t.match(await verifyGuard(pair.podExec), { ok: true }, 'installed once, idempotently');
      t.match(await connect(ADDR.pod4, 8081), { ok: false }, 'IPv4 plain port blocked');
      t.match(await connect(ADDR.pod4, 8080), { ok: false }, 'IPv4 captured port blocked');
      t.match(await connect(ADDR.pod6, 8081), { ok: false }, 'IPv6 blocked');
      t.match(await connect('127.0.0.1', 8081, pod), { ok: true }, 'loopback IPv4 passes');
      t.match(await connect('::1', 8081, pod), { ok: true }, 'loopback IPv6 passes');
      // The pod's own outbound connection gets its replies (the initializer reaching the Coordinator).
      t.match(await client.request({ op: 'listen', host: '::', port: 7777 }), { ok: true });
      const out = await connect(ADDR.client4, 7777, pod);
      t.match(out, { ok: true }, 'an outbound connection from the guarded pod is answered');
      t.match(await pod.request({ op: 'send', conn: out.id, text: 'hi', timeoutMs: 1000 }), { ok: true, data: '7777:hi' }, 'and carries data both ways');
      await liftGuard(pair.podExec);
      await liftGuard(pair.podExec);
      t.match(await verifyGuard(pair.podExec), { ok: false }, 'lifted (twice is fine)');
      t.match(await connect(ADDR.pod4, 8081), { ok: true }, 'traffic flows again');
      t.match(await connect(ADDR.pod6, 8081), { ok: true });
    });

    await t.test('unguard refuses when IPv6 is configured but ip6tables is unusable', async (t) => {
      await installGuard(pair.podExec);
      const noIp6tables = { run: (cmd: string, args: readonly string[], stdin?: string) => (cmd.startsWith('ip6tables') ? Promise.resolve({ code: 127, stdout: '', stderr: 'not found' }) : pair.podExec.run(cmd, args, stdin)) };
      await t.rejects(liftGuard(noIp6tables), { code: 'CCMESH_ERR_IPTABLES_IPV6_UNGUARDED', message: /IPv6 is configured .*fd00:198:18/ });
      t.match(await verifyGuard(pair.podExec), { ok: true }, 'the guard stays in every family');
      await liftGuard(pair.podExec);
    });
  });

  void t.test('the initializer\'s policy routing: installed once by root, then the sidecar\'s apply only reads it', async (t) => {
    const pair = await NetnsPair.create();
    t.teardown(() => pair.destroy());
    const plan = testPlan();
    const out: string[] = [];
    t.equal(await iptablesCommand(['routing', '--ipv6', 'on'], { stdout: (s) => void out.push(s), stderr: (s) => void out.push(s) }, pair.podExec), 0, 'ccmesh iptables routing');
    t.match(out.join(''), /policy routing installed \(v4, v6\)/);
    t.same(await applyPodRouting(pair.podExec, 'on'), ['v4', 'v6'], 'and again (idempotent)');
    for (const family of ['v4', 'v6'] as const) t.same(await readRouting(pair.podExec, family, plan[family].routing), { rules: 1, route: true, ahead: [] }, `${family}: one rule, the local route, nothing ahead of it`);
    // The sidecar, non-root in a pod, may read but not change routing: its apply must not try.
    const writes: string[] = [];
    const recording: Executor = { run: (cmd, args, stdin) => {
      if (cmd === 'ip' && args[0] !== '-j') writes.push(`${cmd} ${args.join(' ')}`);
      return pair.podExec.run(cmd, args, stdin);
    } };
    const families = await resolveFamilies(recording, plan.ipv6);
    await applyPlan(recording, plan, families);
    t.same(writes, [], 'the sidecar\'s apply ran no ip command that changes anything');
    t.match(await verifyPlan(pair.podExec, plan, families), { ok: true }, 'and the whole plan verifies');
    // Control: without the initializer's step the same apply has to change routing.
    const bare = await NetnsPair.create();
    t.teardown(() => bare.destroy());
    const bareWrites: string[] = [];
    await applyPlan({ run: (cmd, args, stdin) => {
      if (cmd === 'ip' && args[0] !== '-j') bareWrites.push(`${cmd} ${args.join(' ')}`);
      return bare.podExec.run(cmd, args, stdin);
    } }, plan, await resolveFamilies(bare.podExec, plan.ipv6));
    t.ok(bareWrites.some((w) => /rule add fwmark/.test(w)), `control: without it, apply adds the rule itself (${bareWrites.length} ip changes)`);
  });
}
