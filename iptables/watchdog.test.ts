/** The watchdog with hand-driven timers: drift installs the guard before reporting; errors count as drift. */
import t from 'tap';
import type { VerifyReport } from './verify.js';
import { startWatchdog } from './watchdog.js';
import { FakeWatchdogTimers } from '../test/support/iptables/fake-timers.js';


const OK: VerifyReport = { ok: true, missing: [], extra: [], changed: [] };
const DRIFT: VerifyReport = { ok: false, missing: [{ family: 'v4', table: 'mangle', chain: 'CCMESH_INBOUND', rule: '-A x' }], extra: [], changed: [] };

void t.test('drift → guard, then unready; recovery reported; abort stops', async (t) => {
  const timers = new FakeWatchdogTimers();
  const ac = new AbortController();
  const log: string[] = [];
  const results: (VerifyReport | Error)[] = [OK, DRIFT, new Error('iptables-save died'), OK];
  const wd = startWatchdog({
    verify: () => {
      const r = results.shift() ?? OK;
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
    installGuard: () => {
      log.push('guard');
      return Promise.resolve();
    },
    onUnready: (rep) => log.push(`unready:${rep.missing[0]?.rule ?? ''}`),
    onRecovered: () => log.push('recovered'),
    intervalMs: 1000,
    signal: ac.signal,
    timers,
  });
  for (let i = 0; i < 4; i++) await timers.tick();
  t.same(log, ['guard', 'unready:-A x', 'guard', 'unready:iptables-save died', 'recovered']);
  ac.abort();
  await wd.done;
  t.equal(timers.pending.length, 0, 'no timer left behind');
});

void t.test('a guard that cannot be installed is reported loudly', async (t) => {
  const ac = new AbortController();
  const seen: string[] = [];
  const wd = startWatchdog({
    verify: () => Promise.resolve(DRIFT),
    installGuard: () => Promise.reject(new Error('no iptables')),
    onUnready: () => seen.push('unready'),
    onGuardFailed: () => seen.push('guard-failed'),
    intervalMs: 1000,
    signal: ac.signal,
    timers: new FakeWatchdogTimers(),
  });
  await wd.check();
  ac.abort();
  await wd.done;
  t.same(seen, ['guard-failed', 'unready']);
});
