/** NonceAuthority: stateless MAC'd nonces, single use, expiry, and a bounded replay set that fails closed. */
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { NONCE_DEFAULTS, NonceAuthority } from './single-use-nonces.js';

const start = Date.UTC(2026, 0, 1);

void t.test('a nonce is accepted once, then refused as reused', (t) => {
  const nonces = new NonceAuthority({ clock: new FixedClock(start) });
  const n = nonces.issue();
  t.equal(n.length, 32);
  t.same(nonces.consume(n), { ok: true });
  t.same(nonces.consume(n), { ok: false, reason: 'reused' });
  t.equal(nonces.consumedCount, 1);
  t.end();
});

void t.test('issuing stores nothing: a flood leaves earlier nonces valid', (t) => {
  const nonces = new NonceAuthority({ clock: new FixedClock(start), maxConsumed: 10 });
  const victim = nonces.issue();
  const flood = new Set<string>();
  for (let i = 0; i < 50_000; i++) flood.add(Buffer.from(nonces.issue()).toString('hex'));
  t.equal(flood.size, 50_000, 'every nonce distinct');
  t.equal(nonces.consumedCount, 0);
  t.same(nonces.consume(victim), { ok: true });
  t.end();
});

void t.test('forged, altered, foreign and short nonces are unknown', (t) => {
  const clock = new FixedClock(start);
  const nonces = new NonceAuthority({ clock, key: new Uint8Array(32).fill(1) });
  const other = new NonceAuthority({ clock, key: new Uint8Array(32).fill(2) });
  const n = nonces.issue();
  for (const i of [0, 7, 8, 15, 16, 31]) {
    const altered = new Uint8Array(n);
    altered[i]! ^= 1;
    t.same(nonces.consume(altered), { ok: false, reason: 'unknown' }, `bit flipped in byte ${i}`);
  }
  // A later expiry with the old tag: the host can't extend a nonce's life.
  const extended = Buffer.from(n);
  extended.writeBigUInt64BE(extended.readBigUInt64BE(0) + 3_600_000n, 0);
  t.same(nonces.consume(new Uint8Array(extended)), { ok: false, reason: 'unknown' }, 'expiry moved');
  t.same(nonces.consume(other.issue()), { ok: false, reason: 'unknown' }, 'issued under another key (another process)');
  t.same(nonces.consume(new Uint8Array(32)), { ok: false, reason: 'unknown' }, 'zeros');
  t.same(nonces.consume(n.subarray(0, 31)), { ok: false, reason: 'unknown' }, 'short');
  t.same(nonces.consume(n), { ok: true }, 'the genuine one still works: failed attempts do not consume it');
  t.end();
});

void t.test('a nonce expires after the TTL', (t) => {
  const clock = new FixedClock(start);
  const nonces = new NonceAuthority({ clock });
  const n = nonces.issue();
  const fresh = nonces.issue();
  clock.advance(NONCE_DEFAULTS.ttlMs);
  t.same(nonces.consume(fresh), { ok: true }, 'valid up to its expiry');
  clock.advance(1);
  t.same(nonces.consume(n), { ok: false, reason: 'expired' });
  t.same(nonces.consume(fresh), { ok: false, reason: 'expired' }, 'a used nonce past expiry is refused as expired');
  t.end();
});

void t.test('the replay set is bounded, fails closed, and frees entries only once they expire', (t) => {
  // Entries are swept by whole seconds of expiry: at most a second after the nonce expired.
  const clock = new FixedClock(start);
  const nonces = new NonceAuthority({ clock, ttlMs: 10_000, maxConsumed: 3 });
  const used = [nonces.issue(), nonces.issue(), nonces.issue()];
  for (const n of used) t.same(nonces.consume(n), { ok: true });
  const waiting = nonces.issue();
  t.same(nonces.consume(waiting), { ok: false, reason: 'busy' }, 'full: refused, not recorded');
  for (const n of used) t.same(nonces.consume(n), { ok: false, reason: 'reused' }, 'nothing was forgotten to make room');
  clock.advance(5_000);
  const later = nonces.issue();
  t.same(nonces.consume(waiting), { ok: false, reason: 'busy' }, 'still full before the used ones expire');
  clock.advance(6_000);
  t.same(nonces.consume(later), { ok: true }, 'room again once the used nonces expired');
  t.equal(nonces.consumedCount, 1, 'expired entries were swept');
  t.same(nonces.consume(waiting), { ok: false, reason: 'expired' });
  t.end();
});

void t.test('a clock that steps back keeps sweeping what expires by the new time', (t) => {
  const clock = new FixedClock(start);
  const nonces = new NonceAuthority({ clock, ttlMs: 1_000, maxConsumed: 2 });
  t.same(nonces.consume(nonces.issue()), { ok: true }, 'recorded before the step; stays until its own expiry');
  clock.advance(-3_600_000);
  t.same(nonces.consume(nonces.issue()), { ok: true });
  clock.advance(2_000);
  t.same(nonces.consume(nonces.issue()), { ok: true }, 'the nonce recorded after the step was swept once it expired');
  t.end();
});
