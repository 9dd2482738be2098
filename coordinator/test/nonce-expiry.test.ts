/**
 * Coordinator nonces expire: evidence bound to a nonce presented after its TTL is refused as expired, on the
 * Coordinator's (injectable) clock, while the same request within the TTL is accepted.
 */
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { NONCE_DEFAULTS } from '../core/single-use-nonces.js';
import { Harness, refused } from './harness.js';

void t.test('a nonce presented after its TTL is refused as expired', async (t) => {
  const clock = new FixedClock(Date.now());
  const { h, user, mesh } = await Harness.started(t, { clock });
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));

  const inTime = await h.podRequest(mesh);
  clock.advance(NONCE_DEFAULTS.ttlMs);
  t.ok(await mesh.call('NewMeshCert', inTime.request), 'control: at the end of its TTL the nonce is accepted');

  const late = await h.podRequest(mesh);
  clock.advance(NONCE_DEFAULTS.ttlMs + 1);
  await refused(t, mesh.call('NewMeshCert', late.request), 'PERMISSION_DENIED', /the nonce has expired; request a new one/, 'a millisecond after its TTL');
});
