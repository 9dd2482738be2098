/**
 * The renewal loop against a real in-process Coordinator (simulated TEE): the pod's first leaf comes from
 * NewMeshCert, the sidecar schedules renewal at ~50 % of its life, renews through RenewMeshCert, writes the files
 * (key and leaf on disk match), and new handshakes present the new leaf. With the Coordinator gone, a renewal fails,
 * is counted, backs off, keeps the old leaf, and /ready turns 503 only once the leaf nears expiry.
 */
import t from 'tap';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { FixedClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshCertResponse } from '../../lib/protocol/messages.js';
import { MeshApi } from '../../lib/protocol/services.js';
import type { MeshClient } from '../credentials/renewal.js';
import { coordinatorWithPod } from './coordinator-pod.js';
import { startProxy } from '../unit.js';
import { TestMesh } from './pki.js';
import { FakeTimers, TestApp, testConfig } from './support.js';

void t.test('renewal against an in-process Coordinator', async (t) => {
  const { h, pod, dir, address } = await coordinatorWithPod(t, 'ccmesh-renew-');
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const timers = new FakeTimers();
  const clock = new FixedClock(Date.now());
  // A relay between the sidecar and the Coordinator (the host can be one) may rewrite answers.
  let relay: ((res: MeshCertResponse) => MeshCertResponse) | undefined;
  const connect = async (): Promise<MeshClient> => {
    const c = await PinnedClient.connect(address, MeshApi);
    const call: MeshClient['call'] = async (m, req, deadlineMs) => {
      const res = await c.call(m, req, deadlineMs);
      return (m === 'RenewMeshCert' && relay ? relay(res as MeshCertResponse) : res) as typeof res;
    };
    return { spki: c.spki, close: () => c.close(), nonce: () => c.nonce(), call };
  };
  const warnings: string[] = [];
  const logger = createLogger({ component: 'proxy-test', level: 'warn', sink: (l) => warnings.push(l) });
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    coordinator: { host: '127.0.0.1', port: h.coordinator!.meshPort },
    inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock, logger, timers, random: () => 0.5, connectCoordinator: connect });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const first = proxy.store.current;
  const life = first.notAfterMs - first.notBeforeMs;
  const scheduled = timers.live().at(-1)!;
  t.ok(Math.abs(scheduled.ms - (first.notBeforeMs + life / 2 - clock.nowMs())) < 1000, 'renewal scheduled at 50 % of the leaf life (jitter pinned to 0)');

  // Fire the timer as its time had come.
  scheduled.fn();
  t.equal(await proxy.renewal!.renewNow(), true, 'renewal succeeds');
  const renewed = proxy.store.current;
  t.not(renewed.leaf.serialNumber, first.leaf.serialNumber, 'a new leaf is in use');
  const onDiskLeaf = new X509Certificate(readFileSync(join(dir, 'chain.pem')));
  t.equal(onDiskLeaf.serialNumber, renewed.leaf.serialNumber, 'chain.pem holds the new leaf');
  t.ok(onDiskLeaf.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'key.pem')))), 'key.pem matches it');
  const probe = tlsConnect({ host: '127.0.0.1', port: proxy.ports.get('web')!, ca: pod.res.meshCaBundle, allowPartialTrustChain: true, checkServerIdentity: () => undefined });
  await new Promise((r) => probe.once('secureConnect', r));
  t.equal(probe.getPeerCertificate().serialNumber, renewed.leaf.serialNumber, 'new handshakes present the renewed leaf');
  probe.destroy();

  // Rewritten answers are refused before anything reaches the TLS directory: the files on disk stay those in use.
  const files = ['key.pem', 'chain.pem', 'mesh-ca.pem', 'root-ca.pem'];
  const onDisk = (): string[] => files.map((f) => readFileSync(join(dir, f), 'utf8'));
  const diskBefore = onDisk();
  const foreign = await TestMesh.create();
  relay = (res) => ({ ...res, rootCa: foreign.root.certPem, meshCaBundle: foreign.bundle() });
  t.equal(await proxy.renewal!.renewNow(), false, 'an answer under another root: refused');
  t.match(warnings.at(-1), /RenewMeshCert returned a root CA other than the one this pod trusts/, 'for its root');
  t.same(onDisk(), diskBefore, 'nothing was written');
  // The pinned root, but the leaf of our previous key (a replayed answer): it does not match the new key.
  relay = (res) => ({ ...res, certChain: first.files.chain });
  t.equal(await proxy.renewal!.renewNow(), false, 'an answer whose leaf is not for the new key: refused');
  t.match(warnings.at(-1), /renewed credentials: the key does not match the leaf certificate/, 'for the key mismatch');
  t.same(onDisk(), diskBefore, 'nothing was written: key.pem and chain.pem are still the pair in use');
  t.equal(proxy.store.current.leaf.serialNumber, renewed.leaf.serialNumber, 'and the renewed leaf stays in use');
  relay = undefined;

  // The Coordinator goes away: the attempt fails, the old leaf stays, a retry is scheduled.
  await h.coordinator!.close();
  const before = timers.live().length;
  t.equal(await proxy.renewal!.renewNow(), false, 'renewal fails without a Coordinator');
  t.equal(proxy.store.current.leaf.serialNumber, renewed.leaf.serialNumber, 'the current leaf is kept');
  t.ok(timers.live().length >= before, 'a retry is scheduled');
  const results = (await proxy.metrics.renewals.get()).values;
  t.same(Object.fromEntries(results.map((v) => [v.labels.result, v.value])), { success: 1, failure: 3 }, 'renewal results counted');
  const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${proxy.adminPort}/ready`)).status;
  t.equal(await ready(), 200, 'still ready while the leaf is far from expiry');
  clock.advance(renewed.notAfterMs - clock.nowMs() - life * 0.05);
  t.equal(await ready(), 503, 'unready once the leaf nears expiry with renewal failing');
});
