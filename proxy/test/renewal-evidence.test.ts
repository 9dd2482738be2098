/**
 * The sidecar's side of the revocation bound: after a manifest update that changes the reference values, the
 * Coordinator renews a leaf of the previous generation only with fresh evidence. With an issuer (`--tee`) the renewal
 * loop attests and retries once; without one the attempt is counted `evidence-required`, the old leaf is kept, and
 * /ready turns 503 as the leaf nears expiry (the restarted pod attests in its initializer).
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { FixedClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { type Harness, sha256hex } from '../../coordinator/test/harness.js';
import { startProxy } from '../unit.js';
import { coordinatorWithPod, type CoordinatorPod } from './coordinator-pod.js';
import { FakeTimers, TestApp, testConfig, testLogger } from './support.js';

/** `h.manifest()` with one more accepted measurement: the pod still passes, but the reference values changed. */
function changedReferenceValues(h: Harness): Uint8Array {
  const doc = buildManifestDocument({
    workloadOwnerKeys: [h.spkiHex(h.owner.publicKey)],
    seedshareOwnerKeys: [h.spkiHex(h.seedshare.publicKey)],
    simulatedArkPem: h.platform.ark.toString(),
    simulatedSnp: { measurements: [h.platform.config.measurement, 'ab'.repeat(48)] },
    policies: [
      { policyHash: sha256hex(h.coordinatorDoc), role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' },
      { policyHash: sha256hex(h.podDoc), sans: ['web', 'web.default.svc'], workloadSecretId: 'apps/v1/Deployment/default/web' },
    ],
  });
  return new Uint8Array(Buffer.from(JSON.stringify(doc)));
}

async function sidecarAfterUpdate(t: { teardown(fn: () => unknown): void }, prefix: string, renewalIssuer: (() => Promise<EvidenceIssuer>) | undefined, logger = testLogger) {
  const cp: CoordinatorPod = await coordinatorWithPod(t, prefix);
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const clock = new FixedClock(Date.now());
  const proxy = await startProxy(testConfig({
    tlsDir: cp.dir,
    coordinator: { host: '127.0.0.1', port: cp.h.coordinator!.meshPort },
    inbound: [{ name: 'web', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), {
    clock, logger, timers: new FakeTimers(), random: () => 0.5,
    connectCoordinator: () => PinnedClient.connect(cp.address, MeshApi),
    ...(renewalIssuer ? { renewalIssuer } : {}),
  });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const set = await cp.user.call('SetManifest', await cp.h.signedSet(cp.user, changedReferenceValues(cp.h), [...cp.policies]));
  const newCa = new X509Certificate(set.meshCaBundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
  return { ...cp, proxy, clock, newCa };
}

const resultsOf = async (proxy: Awaited<ReturnType<typeof startProxy>>): Promise<Record<string, number>> =>
  Object.fromEntries((await proxy.metrics.renewals.get()).values.map((v) => [v.labels.result, v.value]));

void t.test('with --tee: the sidecar attests when the Coordinator requires fresh evidence', async (t) => {
  let issued = 0;
  // The platform exists only once the Coordinator is up; the issuer is built on first use, after that.
  const started: { h?: Harness } = {};
  const issuer = (): Promise<EvidenceIssuer> => {
    const inner = new SimulatedSnpIssuer(started.h!.platform, { hostData: Buffer.from(sha256hex(started.h!.podDoc), 'hex') });
    return Promise.resolve({
      name: inner.name,
      issue: (data: Uint8Array) => {
        issued++;
        return inner.issue(data);
      },
    });
  };
  const s = await sidecarAfterUpdate(t, 'ccmesh-renew-ev-', issuer);
  started.h = s.h;
  const before = s.proxy.store.current.leaf.serialNumber;
  t.equal(await s.proxy.renewal!.renewNow(), true, 'renewal succeeds');
  t.equal(issued, 1, 'after attesting once');
  t.not(s.proxy.store.current.leaf.serialNumber, before, 'a new leaf is in use');
  t.ok(s.proxy.store.current.leaf.verify(s.newCa.publicKey), 'issued by the new mesh CA');
  t.same(await resultsOf(s.proxy), { success: 1 }, 'counted as a success');
  t.equal(await s.proxy.renewal!.renewNow(), true, 'the next renewal (a current-generation leaf) succeeds');
  t.equal(issued, 1, 'without evidence');
});

void t.test('without --tee: evidence-required is counted, the leaf is kept and the pod goes unready near expiry', async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ component: 'proxy-test', level: 'warn', sink: (l) => lines.push(l) });
  const s = await sidecarAfterUpdate(t, 'ccmesh-renew-noev-', undefined, logger);
  const first = s.proxy.store.current;
  t.equal(await s.proxy.renewal!.renewNow(), false, 'renewal fails');
  t.equal(s.proxy.store.current.leaf.serialNumber, first.leaf.serialNumber, 'the current leaf is kept');
  t.ok(s.proxy.renewal!.failing, 'renewal is failing');
  t.same(await resultsOf(s.proxy), { 'evidence-required': 1 }, 'counted as evidence-required');
  t.ok(lines.some((l) => l.includes('needs fresh evidence') && l.includes('--tee')), 'a clear warning is logged');
  const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${s.proxy.adminPort}/ready`)).status;
  t.equal(await ready(), 200, 'still ready while the leaf is far from expiry');
  s.clock.advance(first.notAfterMs - s.clock.nowMs() - (first.notAfterMs - first.notBeforeMs) * 0.05);
  t.equal(await ready(), 503, 'unready once the leaf nears expiry');
});
