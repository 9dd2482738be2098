/**
 * The host writes the Coordinator's store itself: a history that starts with the victim owner's (public) first
 * manifest and continues with a manifest of the host's, with `latest` signed under a seed the host chose. A
 * Coordinator that let the *latest* manifest's seed-share keys recover would come up serving the victim's owner pin
 * from a mesh whose CA keys and workload secrets the host can derive (found by the attack review of the mesh-owner
 * change). Recover is authorised by the first manifest's seed-share owners only, so the forgery stays in recovery.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import { canonicalBytesOf } from '../../contract/manifest/canonical.js';
import { createRootCa } from '../pki/ca.js';
import { deriveSecrets, generateSalt, generateSeed } from '../pki/seed.js';
import { History } from '../history/history.js';
import { FileStore } from '../store/file-store.js';
import { loadOrCreateCa, ROOT_CA_KEY } from '../core/persisted-ca.js';
import { systemClock } from '../../lib/clock.js';
import { COORDINATOR_STATE } from '../../lib/protocol/messages.js';
import { Harness, sha256hex } from './harness.js';

void t.test('a forged history starting with the victim\'s first manifest can\'t be recovered with the host\'s own seed', async (t) => {
  const { h, user } = await Harness.started(t);
  const victimFirst = h.manifest();
  const set = await user.call('SetManifest', await h.signedSet(user, victimFirst, [h.coordinatorDoc, h.podDoc]));
  const victimOwner = set.meshOwner;

  // The host: stop the Coordinator, wipe its store and write a history of its own under a seed of its own.
  user.close();
  await h.coordinator!.close();
  rmSync(join(h.dir, 'store'), { recursive: true, force: true });
  const hostOwner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const hostSeedshare = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const hex = (k: { export(o: { type: 'spki'; format: 'der' }): Buffer }): string => k.export({ type: 'spki', format: 'der' }).toString('hex');
  const hostManifest = Buffer.from(JSON.stringify(buildManifestDocument({
    workloadOwnerKeys: [hex(hostOwner.publicKey)],
    seedshareOwnerKeys: [hex(hostSeedshare.publicKey)],
    simulatedArkPem: h.platform.ark.toString(),
    simulatedSnp: { measurements: [h.platform.config.measurement] },
    policies: [{ policyHash: sha256hex(h.coordinatorDoc), role: 'coordinator' }, { policyHash: sha256hex(h.podDoc), sans: ['web'], workloadSecretId: 'web' }],
  })));
  const seed = generateSeed();
  const salt = generateSalt();
  const secrets = deriveSecrets(seed, salt);
  const store = await FileStore.open(join(h.dir, 'store'));
  const history = new History(store);
  for (const doc of [h.coordinatorDoc, h.podDoc]) await history.putPolicy(doc);
  const m0 = await history.putManifest(canonicalBytesOf(parseManifest(victimFirst)));
  const t0 = await history.putTransition({ manifestHash: m0, previousTransitionHash: '' });
  const a0 = await history.advanceLatest(t0, secrets.historySigningKey, 0);
  const m1 = await history.putManifest(canonicalBytesOf(parseManifest(hostManifest)));
  const t1 = await history.putTransition({ manifestHash: m1, previousTransitionHash: t0 });
  t.ok((await history.advanceLatest(t1, secrets.historySigningKey, a0.ok ? a0.revision : 0)).ok, 'the host wrote a consistent, signed history');
  await loadOrCreateCa(store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' }, () => createRootCa({ key: secrets.rootCaKey, trustDomain: 'ccmesh.local', clock: systemClock }));
  await store.close();

  await h.start();
  const user2 = await h.user();
  t.teardown(() => user2.close());
  t.equal((await user2.call('GetManifests', {})).state, COORDINATOR_STATE.recovery, 'the Coordinator finds the forged history and waits for recovery');
  const err = await user2.call('Recover', await h.recoverRequest(user2, seed, salt, hostSeedshare.privateKey)).then(() => undefined, (e: unknown) => e as Error);
  t.match(err?.message, /PERMISSION_DENIED: ownerKey is not a seed-share owner key of the mesh's first manifest/, 'the host\'s own seed-share key (the latest manifest\'s) can\'t recover it');
  const after = await user2.call('GetManifests', {});
  t.equal(after.state, COORDINATOR_STATE.recovery, 'still in recovery: no mesh is served');
  t.equal(after.meshOwner, '', 'and no owner — least of all the victim\'s');
  t.not(after.meshOwner, victimOwner);
});
