/**
 * The credential timers (one loop for the renewal and the trust refresh): each job keeps its own timer and due time,
 * a run asked for while one is in flight shares it, only timed runs call their follow-up, and one stop() cancels
 * every timer, arms nothing again and waits for the runs in flight. Driven with fake timers and a fixed clock.
 */
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { FakeTimers } from '../test/support.js';
import { backoffDelayMs, CredentialScheduler } from './scheduler.js';

function setup(): { clock: FixedClock; timers: FakeTimers; scheduler: CredentialScheduler } {
  const clock = new FixedClock(1_000_000);
  const timers = new FakeTimers();
  return { clock, timers, scheduler: new CredentialScheduler({ timers, clock }) };
}

void t.test('each job keeps its own timer and due time; runWithin only moves a run forward', async (t) => {
  const { clock, timers, scheduler } = setup();
  const a = scheduler.job(async () => 'a');
  const b = scheduler.job(async () => 'b');
  t.equal(a.dueAtMs, Number.POSITIVE_INFINITY, 'nothing armed yet');
  a.runIn(5000);
  b.runIn(1000);
  t.same(timers.live().map((x) => x.ms), [5000, 1000], 'one timer per job');
  t.equal(a.dueAtMs, clock.nowMs() + 5000);
  t.equal(b.dueAtMs, clock.nowMs() + 1000, 'the other job\'s due time is its own');
  a.runWithin(8000);
  t.same(timers.live().map((x) => x.ms), [5000, 1000], 'a later time leaves the armed run alone');
  a.runWithin(5000);
  t.same(timers.live().map((x) => x.ms), [5000, 1000], 'so does the same time');
  a.runWithin(2000);
  t.same(timers.live().map((x) => x.ms), [1000, 2000], 'a sooner one replaces it (the old timer is cancelled)');
  a.runWithin(-5);
  t.equal(a.dueAtMs, clock.nowMs(), 'a negative delay means now');
  a.cancel();
  t.equal(a.dueAtMs, Number.POSITIVE_INFINITY, 'cancelled: nothing armed');
  a.runWithin(9000);
  t.equal(a.dueAtMs, clock.nowMs() + 9000, 'with nothing armed, runWithin arms');
});

void t.test('a run asked for while one is in flight shares it; only timed runs call their follow-up', async (t) => {
  const { timers, scheduler } = setup();
  let runs = 0;
  let release!: () => void;
  let followUps = 0;
  const job = scheduler.job(async () => {
    runs++;
    await new Promise<void>((r) => (release = r));
    return runs;
  }, () => followUps++);
  const first = job.runNow();
  const second = job.runNow();
  t.equal(first, second, 'the same run');
  release();
  t.equal(await first, 1);
  t.equal(followUps, 0, 'no follow-up after a run asked for with runNow');
  job.runIn(100);
  const timer = timers.live().at(-1)!;
  timer.fn();
  t.equal(job.dueAtMs, Number.POSITIVE_INFINITY, 'a fired timer leaves nothing armed');
  release();
  await job.inFlight();
  await new Promise((r) => setImmediate(r));
  t.equal(runs, 2, 'the timer ran the job');
  t.equal(followUps, 1, 'and then its follow-up');
});

void t.test('one stop() cancels every timer, arms nothing again and waits for the runs in flight', async (t) => {
  const { timers, scheduler } = setup();
  let release!: () => void;
  let finished = false;
  const slow = scheduler.job(async () => {
    await new Promise<void>((r) => (release = r));
    finished = true;
  });
  const other = scheduler.job(async () => undefined);
  slow.runIn(1000);
  other.runIn(2000);
  const running = slow.runNow();
  let stopped = false;
  const stopping = scheduler.stop().then(() => (stopped = true));
  t.same(timers.live(), [], 'both timers cancelled');
  t.ok(scheduler.stopped && slow.stopped && other.stopped, 'stopped, for every job');
  other.runIn(10);
  other.runWithin(0);
  t.same(timers.live(), [], 'nothing is armed after stop');
  await new Promise((r) => setImmediate(r));
  t.notOk(stopped, 'stop waits for the run in flight');
  release();
  await stopping;
  await running;
  t.ok(finished, 'which finished');
});

void t.test('backoff: doubling from the first delay up to the longest, times a jitter in [0.5, 1.5)', async (t) => {
  const b = { firstMs: 5000, maxMs: 300_000 };
  t.same([1, 2, 3, 4].map((n) => backoffDelayMs(n, b, () => 0.5)), [5000, 10_000, 20_000, 40_000]);
  t.equal(backoffDelayMs(7, b, () => 0.5), 300_000, 'capped');
  t.equal(backoffDelayMs(500, b, () => 0.5), 300_000, 'a long streak of failures stays capped');
  t.equal(backoffDelayMs(1, b, () => 0), 2500, 'jitter 0.5×');
  t.equal(backoffDelayMs(1, b, () => 0.999), 5000 * 1.499, 'jitter just under 1.5×');
});
