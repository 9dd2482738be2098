/**
 * Trust refresh against a real in-process Coordinator: after an owner-signed manifest update (which makes a new
 * mesh CA) the sidecar's poll adopts the new bundle (old + new CA, also on disk) with its old leaf still in use,
 * and the leaf renewal is pulled forward to two intervals later; once it fires, the leaf comes from the new mesh CA. A bundle whose root differs
 * from the pinned one, and a replayed older bundle, are refused and change nothing.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixedClock } from '../../lib/clock.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { SetManifestResponse } from '../../lib/protocol/messages.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { coordinatorWithPod } from './coordinator-pod.js';
import { parseCertificates } from '../src/credentials/generation.js';
import type { MeshClient } from '../src/credentials/renewal.js';
import { startProxy } from '../src/unit.js';
import { TestMesh } from './pki.js';
import { FakeTimers, TestApp, testConfig, testLogger } from './support.js';

const INTERVAL = 1000;

void t.test('a manifest update reaches a running sidecar through the trust refresh', async (t) => {
  const { h, user, policies, first, pod, dir, address } = await coordinatorWithPod(t, 'ccmesh-trust-');
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const timers = new FakeTimers();
  const clock = new FixedClock(Date.now());
  let answer: ((res: unknown) => unknown) | undefined;
  const connect = async (): Promise<MeshClient> => {
    const c = await PinnedClient.connect(address, MeshApi);
    return { spki: c.spki, close: () => c.close(), call: async <T>(m: string, req: unknown): Promise<T> => {
      const res = await c.call<T>(m, req);
      return (m === 'GetTrustBundle' && answer ? answer(res) : res) as T;
    } };
  };
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    coordinator: { host: '127.0.0.1', port: h.coordinator!.meshPort },
    trustRefreshMs: INTERVAL,
    inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock, logger: testLogger, timers, random: () => 0.5, connectCoordinator: connect });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const refresh = proxy.trustRefresh!;
  t.ok(refresh, 'the trust refresh runs when --coordinator and an interval are set');
  const oldLeaf = proxy.store.current.leaf;
  t.equal(await refresh.pollNow(), 'unchanged', 'no update yet: nothing changes');

  // A root other than the pinned one is refused, even with a bundle that differs.
  const foreign = await TestMesh.create();
  answer = (res) => ({ ...(res as object), rootCa: foreign.root.certPem, meshCaBundle: foreign.bundle() });
  t.equal(await refresh.pollNow(), 'failed', 'a bundle under another root is refused');
  t.equal(proxy.store.current.files.meshCaBundle, pod.res.meshCaBundle, 'the bundle in use is unchanged');
  answer = undefined;

  // The owner updates the manifest: a new mesh CA, bundle = new + previous.
  const updated = await user.call<SetManifestResponse>('SetManifest', await h.signedSet(user, h.manifest([], ['web', 'web.default.svc', 'web-v2']), [...policies]));
  const [newCa, oldCa] = parseCertificates(updated.meshCaBundle);
  t.not(newCa!.fingerprint256, parseCertificates(first.meshCaBundle)[0]!.fingerprint256, 'the update made a new mesh CA');
  t.equal(oldCa!.fingerprint256, parseCertificates(first.meshCaBundle)[0]!.fingerprint256, 'the bundle keeps the previous CA');

  const liveBefore = new Set(timers.live());
  t.equal(await refresh.pollNow(), 'adopted', 'the new bundle is adopted');
  t.equal(proxy.store.current.leaf.serialNumber, oldLeaf.serialNumber, 'the old leaf stays in use for now');
  t.same(parseCertificates(proxy.store.current.files.meshCaBundle).map((c) => c.fingerprint256), [newCa!.fingerprint256, oldCa!.fingerprint256], 'old + new CA are trusted');
  t.same(parseCertificates(readFileSync(join(dir, 'mesh-ca.pem'), 'utf8')).length, 2, 'mesh-ca.pem on disk holds both CAs');
  const pulled = timers.live().filter((x) => !liveBefore.has(x)).find((x) => x.ms === 2 * INTERVAL);
  t.ok(pulled, 'the leaf renewal is pulled forward to two intervals');

  // The host replays the earlier, root-signed answer (only the old CA): it still covers our leaf, but adopting it
  // would drop the new CA and re-trust a generation the update replaced.
  answer = (res) => ({ ...(res as object), meshCaBundle: first.meshCaBundle });
  t.equal(await refresh.pollNow(), 'failed', 'a replayed older bundle is refused');
  t.same(parseCertificates(proxy.store.current.files.meshCaBundle).map((c) => c.fingerprint256), [newCa!.fingerprint256, oldCa!.fingerprint256], 'and the bundle in use stays old + new');
  answer = undefined;

  pulled!.fn();
  t.equal(await proxy.renewal!.renewNow(), true, 'the renewal succeeds');
  const renewed = new X509Certificate(readFileSync(join(dir, 'chain.pem')));
  t.equal(renewed.issuer, newCa!.subject, 'the renewed leaf comes from the new mesh CA');
  t.ok(renewed.verify(newCa!.publicKey), 'and is signed by it');
  t.equal(await refresh.pollNow(), 'unchanged', 'the next poll sees nothing new');
  const polls = Object.fromEntries((await proxy.metrics.trustRefreshes.get()).values.map((v) => [v.labels.result, v.value]));
  t.same(polls, { unchanged: 2, failed: 2, adopted: 1 }, 'poll outcomes are counted');
});
