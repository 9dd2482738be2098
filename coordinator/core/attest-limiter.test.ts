/** AttestLimiter: per-client and overall token buckets, on a test clock. */
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { AttestLimiter, type AttestLimits } from './attest-limiter.js';

const limits: AttestLimits = { perClient: { burst: 3, perSecond: 1 }, overall: { burst: 5, perSecond: 2 }, maxClients: 4 };
const admitted = (l: AttestLimiter, client: string, n: number): number => Array.from({ length: n }, () => l.admit(client).ok).filter(Boolean).length;

void t.test('one client gets its burst, then its rate', (t) => {
  const clock = new FixedClock(0);
  const l = new AttestLimiter(clock, limits);
  t.equal(admitted(l, 'a', 10), 3);
  const refused = l.admit('a');
  t.same(refused, { ok: false, limit: 'attest_per_client', retryAfterMs: 1000 });
  clock.advance(500);
  t.same(l.admit('a'), { ok: false, limit: 'attest_per_client', retryAfterMs: 500 }, 'half a token is no token');
  clock.advance(500);
  t.equal(admitted(l, 'a', 10), 1, 'one per second');
  t.end();
});

void t.test('clients do not share a bucket; all together are held to the overall bucket', (t) => {
  const clock = new FixedClock(0);
  const l = new AttestLimiter(clock, limits);
  t.equal(admitted(l, 'a', 10), 3);
  t.equal(admitted(l, 'b', 10), 2, 'b is limited only by what is left overall');
  const r = l.admit('c');
  t.equal(r.ok ? undefined : r.limit, 'attest_overall');
  clock.advance(500);
  t.equal(admitted(l, 'c', 10), 1, 'overall refills at 2 per second');
  t.end();
});

void t.test('a refusal by one bucket takes no token from the other', (t) => {
  const clock = new FixedClock(0);
  const l = new AttestLimiter(clock, limits);
  t.equal(admitted(l, 'a', 3), 3);
  t.equal(admitted(l, 'a', 50), 0, 'refused per client ...');
  t.equal(admitted(l, 'b', 10), 2, '... without draining the overall bucket');
  t.end();
});

void t.test('client buckets are bounded; the least recently used is forgotten', (t) => {
  const clock = new FixedClock(0);
  const l = new AttestLimiter(clock, { ...limits, overall: { burst: 1000, perSecond: 1 } });
  t.equal(admitted(l, 'a', 5), 3);
  for (const c of ['b', 'c', 'd']) admitted(l, c, 1);
  t.equal(admitted(l, 'a', 1), 0, 'a is remembered while among the 4 most recent');
  for (const c of ['e', 'f', 'g', 'h']) admitted(l, c, 1);
  t.equal(admitted(l, 'a', 5), 3, 'forgotten after 4 others: back to a full bucket (the overall bucket still bounds this)');
  t.end();
});

void t.test('a clock stepping back refills nothing', (t) => {
  const clock = new FixedClock(10_000);
  const l = new AttestLimiter(clock, limits);
  t.equal(admitted(l, 'a', 3), 3);
  clock.advance(-5_000);
  t.equal(admitted(l, 'a', 1), 0);
  clock.advance(5_000);
  t.equal(admitted(l, 'a', 1), 0, 'time before the last admission is not counted twice');
  t.end();
});
