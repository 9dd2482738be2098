/**
 * A first set that stored its root CA and crashed before its history landed leaves a root CA of a lost seed behind.
 * A later first set is refused while that root may still belong to a first set in progress, and replaces it once it
 * stayed unchanged for the grace with no history using it — no cleaning the store by hand.
 */
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { createRootCa } from '../pki/ca.js';
import { deriveSecrets, generateSalt, generateSeed } from '../pki/seed.js';
import { MemoryStore } from '../store/memory-store.js';
import { ROOT_CA_KEY } from '../core/persisted-ca.js';
import { ORPHAN_ROOT_GRACE_MS } from '../core/coordinator.js';
import { Harness, refused } from './harness.js';

void t.test('the root CA of an unfinished first set is replaced after the grace, not before', async (t) => {
  const clock = new FixedClock(Date.now());
  const store = new MemoryStore();
  const plant = async (expected: number): Promise<string> => {
    const lost = deriveSecrets(generateSeed(), generateSalt());
    const orphan = await createRootCa({ key: lost.rootCaKey, trustDomain: 'ccmesh.local', clock });
    const cas = await store.compareAndSwap(ROOT_CA_KEY, expected, new Uint8Array(Buffer.from(orphan.certPem)));
    t.ok(cas.ok, 'planted a root CA of a lost seed');
    return orphan.certPem;
  };
  await plant(0);
  const { h, user, mesh } = await Harness.started(t, { clock, openStore: () => Promise.resolve(store) });
  const docs = [h.coordinatorDoc, h.podDoc];
  const set = async (): Promise<unknown> => user.call('SetManifest', await h.signedSet(user, h.manifest(), docs));

  await refused(t, set(), 'FAILED_PRECONDITION', /the store already holds the root CA of another seed.*retry in 120 s/, 'first sight: refused, saying when to retry');
  clock.advance(ORPHAN_ROOT_GRACE_MS / 2);
  await refused(t, set(), 'FAILED_PRECONDITION', /the store already holds the root CA of another seed.*retry in 60 s/, 'within the grace: still refused (it may be a first set in progress)');

  // The root changes (another first set in progress wrote it): the grace starts again.
  const second = await plant((await store.get(ROOT_CA_KEY))!.revision);
  clock.advance(ORPHAN_ROOT_GRACE_MS / 2 + 1000);
  await refused(t, set(), 'FAILED_PRECONDITION', /the store already holds the root CA of another seed.*retry in 120 s/, 'a changed root restarts the grace');
  t.equal(Buffer.from((await store.get(ROOT_CA_KEY))!.value).toString('utf8'), second, 'the changed root is left alone');

  clock.advance(ORPHAN_ROOT_GRACE_MS);
  const won = (await set()) as { rootCa: string };
  t.not(won.rootCa, second, 'after the grace, the first set lands with a root CA of its own');
  t.equal(Buffer.from((await store.get(ROOT_CA_KEY))!.value).toString('utf8'), won.rootCa, 'the store holds the new root');
  t.equal((await mesh.call('GetTrustBundle', {})).rootCa, won.rootCa, 'and the Coordinator serves it');
});
