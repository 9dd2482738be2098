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
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { coordinatorWithPod } from './coordinator-pod.js';
import { parseCertificates } from '../credentials/generation.js';
import type { MeshClient } from '../credentials/renewal.js';
import { startProxy } from '../unit.js';
import { TestMesh } from './pki.js';
import { FakeTimers, TestApp, testConfig } from './support.js';

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
    const call: MeshClient['call'] = async (m, req, deadlineMs) => {
      const res = await c.call(m, req, deadlineMs);
      return (m === 'GetTrustBundle' && answer ? answer(res) : res) as typeof res;
    };
    return { spki: c.spki, close: () => c.close(), nonce: () => c.nonce(), call };
  };
  const warnings: string[] = [];
  const logger = createLogger({ component: 'proxy-test', level: 'warn', sink: (l) => warnings.push((JSON.parse(l) as { msg: string }).msg) });
  const lastWarning = (): string => warnings.at(-1) ?? '';
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    coordinator: { host: '127.0.0.1', port: h.coordinator!.meshPort },
    trustRefreshMs: INTERVAL,
    inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock, logger, timers, random: () => 0.5, connectCoordinator: connect });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const refresh = proxy.trustRefresh!;
  t.ok(refresh, 'the trust refresh runs when --coordinator and an interval are set');
  const oldLeaf = proxy.store.current.leaf;
  t.equal(await refresh.pollNow(), 'unchanged', 'no update yet: nothing changes');

  // A root other than the pinned one is refused, even with a bundle that differs. (Its CAs are dated later than ours,
  // so that only the root can be the reason.)
  const foreign = await TestMesh.create('ccmesh.local', new FixedClock(Date.now() + 60_000));
  answer = (res) => ({ ...(res as object), rootCa: foreign.root.certPem, meshCaBundle: foreign.bundle() });
  t.equal(await refresh.pollNow(), 'failed', 'a bundle under another root is refused');
  t.equal(proxy.store.current.files.meshCaBundle, pod.res.meshCaBundle, 'the bundle in use is unchanged');
  // Our bundle plus the foreign CA (so it would move forward), under the foreign root: refused for its root.
  answer = (res) => ({ ...(res as object), rootCa: foreign.root.certPem, meshCaBundle: pod.res.meshCaBundle + foreign.bundle() });
  t.equal(await refresh.pollNow(), 'failed', 'a bundle adding a CA, under another root: refused');
  t.match(lastWarning(), /^SECURITY: GetTrustBundle answer refused: malformed or a root other than the pinned one$/, 'for naming another root');

  // The pinned root, and a bundle that keeps our CA and adds one the root never signed: refused as such — the old
  // bundle stays in memory and on disk, and no renewal is started.
  const liveBeforeForeign = new Set(timers.live());
  answer = (res) => ({ ...(res as object), meshCaBundle: pod.res.meshCaBundle + foreign.bundle() });
  t.equal(await refresh.pollNow(), 'failed', 'a bundle with a CA the pinned root never signed: refused');
  t.match(lastWarning(), /^SECURITY: GetTrustBundle answer refused: it holds a mesh CA the pinned root did not issue$/, 'for that CA');
  t.equal(proxy.store.current.files.meshCaBundle, pod.res.meshCaBundle, 'the bundle in use is unchanged');
  t.equal(readFileSync(join(dir, 'mesh-ca.pem'), 'utf8'), pod.res.meshCaBundle, 'and so is mesh-ca.pem');
  t.same(timers.live().filter((x) => !liveBeforeForeign.has(x)), [], 'no renewal was pulled forward');
  // A certificate without a subject (a leaf) in the bundle is refused the same way, not a crash of the poll.
  const subjectless = (await foreign.leaf(['x'])).files.chain;
  answer = (res) => ({ ...(res as object), meshCaBundle: pod.res.meshCaBundle + subjectless });
  t.equal(await refresh.pollNow(), 'failed', 'a bundle with a subject-less non-CA certificate: refused');
  answer = undefined;

  // The owner updates the manifest: a new mesh CA, bundle = new + previous.
  const updated = await user.call('SetManifest', await h.signedSet(user, h.manifest([], ['web', 'web.default.svc', 'web-v2']), [...policies]));
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

  // A second update drops the first CA. The host, answering for the Coordinator, tries to bring it back (every mesh
  // CA is public and root-signed): appended, in place of the previous CA, or padded with copies.
  const third = await user.call('SetManifest', await h.signedSet(user, h.manifest([], ['web', 'web.default.svc', 'web-v3']), [...policies]));
  t.equal(await refresh.pollNow(), 'adopted', 'the third CA is adopted');
  const [ca3, ca2] = parseCertificates(third.meshCaBundle);
  t.equal(ca2!.fingerprint256, newCa!.fingerprint256, 'the bundle is now third + second: the first CA left');
  const pem = (...cs: X509Certificate[]) => cs.map((c) => c.toString()).join('');
  for (const [what, bundle, reason] of [
    ['the real bundle plus the dropped first CA', third.meshCaBundle + pem(oldCa!), 'the mesh CA bundle holds 3 certificates; it holds the current and at most the previous mesh CA'],
    ['the newest CA with the dropped first one', pem(ca3!, oldCa!), /^SECURITY: GetTrustBundle answer refused: it brings back mesh CA .*, which an earlier bundle dropped$/],
    ['the real bundle with a copy of a CA', pem(ca3!, ca3!), 'the mesh CA bundle lists a certificate twice'],
  ] as const) {
    answer = (res) => ({ ...(res as object), meshCaBundle: bundle });
    t.equal(await refresh.pollNow(), 'failed', `${what}: refused`);
    t.match(lastWarning(), typeof reason === 'string' ? `SECURITY: GetTrustBundle answer refused: ${reason}` : reason, `${what}: for that reason`);
    t.same(proxy.store.current.bundle.map((c) => c.fingerprint256), [ca3!.fingerprint256, ca2!.fingerprint256], `${what}: the bundle in use is unchanged`);
  }
  answer = undefined;
  t.equal(await refresh.pollNow(), 'unchanged', 'control: the real bundle is what the sidecar holds');
  const polls = Object.fromEntries((await proxy.metrics.trustRefreshes.get()).values.map((v) => [v.labels.result, v.value]));
  t.same(polls, { unchanged: 3, failed: 8, adopted: 2 }, 'poll outcomes are counted');
});
