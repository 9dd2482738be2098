/**
 * One client sending junk with fresh nonces (RenewMeshCert here; NewMeshCert, SetManifest and Recover consume
 * nonces the same way) used to fill the Coordinator's bounded set of used nonces for everyone — found by the attack
 * review, at ~1 000 requests per second from one process. Each client address may consume at most
 * DEFAULT_NONCE_SPEND_LIMITS; others are unaffected.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { FixedClock } from '../../lib/clock.js';
import { DEFAULT_NONCE_SPEND_LIMITS } from '../core/attest-limiter.js';
import { Harness } from './harness.js';

void t.test('one client can consume only its share of nonces; another client is unaffected', async (t) => {
  const clock = new FixedClock(Date.now());
  const { h, user } = await Harness.started(t, { clock });
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const core = h.coordinator!.core;
  const junk = (client: string): Promise<string> => {
    const publicKey = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
    return core.renewMeshCert({ certChain: 'junk', publicKey, nonce: core.nonce(), signature: new Uint8Array(64), newKeySignature: new Uint8Array(64), client }).then(() => 'renewed', (e: Error) => e.message);
  };
  const { burst } = DEFAULT_NONCE_SPEND_LIMITS.perClient;
  const answers: string[] = [];
  for (let i = 0; i < burst + 20; i++) answers.push(await junk('198.51.100.7'));
  const shed = answers.filter((a) => /too many nonce-consuming requests from this client/.test(a)).length;
  t.equal(shed, 20, `the first ${burst} junk requests are judged (and refused); the 20 after them are shed before a nonce is used`);
  t.notMatch(answers[0]!, /too many/, 'control: the first one reached the certificate checks');
  const other = await junk('198.51.100.8');
  t.notMatch(other, /too many|tracking too many used nonces/, 'another client still gets its request judged');
  const shedMetric = (await h.coordinator!.registry.metrics()).match(/ccmesh_coordinator_load_shed_total\{limit="nonce_per_client"[^}]*\} (\d+)/);
  t.equal(shedMetric?.[1], '20', 'shed requests are counted');
  clock.advance(2_000);
  t.notMatch(await junk('198.51.100.7'), /too many/, 'after a moment the client gets a little more');
});
