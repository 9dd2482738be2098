import t from 'tap';
import { FixedClock, nowDate, systemClock } from './clock.js';

void t.test('fixed clock stands still until advanced', (t) => {
  const c = new FixedClock(new Date('2024-01-01T00:00:00Z'));
  t.equal(nowDate(c).toISOString(), '2024-01-01T00:00:00.000Z');
  c.advance(1500);
  t.equal(nowDate(c).toISOString(), '2024-01-01T00:00:01.500Z');
  t.ok(Math.abs(systemClock.nowMs() - Date.now()) < 1000);
  t.end();
});
