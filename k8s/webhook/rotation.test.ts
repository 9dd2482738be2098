/**
 * Self-managed serving certificates renewed while the injector runs, in process with short lifetimes: AdmissionReviews
 * keep arriving over TLS that trusts only the caBundle as the API server last read it (a lagging copy of the one on
 * FakeKubeApi), while the leaf is renewed several times and the in-memory CA is rotated with an overlap. None fails
 * (an expired leaf, or a leaf of a CA not yet in the caBundle, would fail the handshake). The same for two replicas on
 * the shared CA Secret (`--ca-secret`), which each renew their leaf from the Secret's CA key.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type tap from 'tap';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { repoRoot } from '../../test/fixtures.js';
import { FakeKubeApi, webhookConfigurationFixture } from '../../test/support/k8s/fake-kube-api.js';
import { startInjector, type RotationConfig, type RunningInjector } from './injector.js';
import { KubeClient, serviceAccountConfig } from './kube-client.js';
import type { Counter, Gauge } from 'prom-client';
import { createInjectorMetrics, type InjectorMetrics } from './metrics.js';

const NAME = 'ccmesh-injector';
const SVC = 'ccmesh-injector.ccmesh-system.svc';
const REVIEW = readFileSync(join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission', 'pod-from-replicaset.json'), 'utf8');
/** How far behind the published caBundle the "API server" trusts. */
const API_LAG_MS = 1_000;
// Whole seconds matter: X.509 validity has a resolution of one second.
const ROTATION: RotationConfig = { caLifetimeMs: 15_000, leafLifetimeMs: 6_000, checkIntervalMs: 100, propagationMs: 2_000 };

/** One AdmissionReview trusting only `ca`; the leaf it was served and what went wrong, if anything. */
function review(port: number, ca: string): Promise<{ error?: string; leaf?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject?timeout=10s', method: 'POST', servername: SVC, ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const leaf = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? { leaf } : { error: `HTTP ${String(res.statusCode)}`, leaf }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(REVIEW);
  });
}

function bundleOf(api: FakeKubeApi): string {
  return Buffer.from((api.config!.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle, 'base64').toString();
}

/** `replicas` injectors (self-managed certificates, `rotation`) on one FakeKubeApi, each with its own metrics. */
async function startInjectors(t: Pick<typeof tap, 'teardown'>, caSecret: string | undefined, replicas: number, rotation: RotationConfig) {
  const api = await FakeKubeApi.start('tok', webhookConfigurationFixture(NAME, ['inject.ccmesh.dev']));
  t.teardown(() => api.close());
  const sa = mkdtempSync(join(tmpdir(), 'k8s2-rotation-sa-'));
  t.teardown(() => rmSync(sa, { recursive: true, force: true }));
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), api.caPem);
  const kube = new KubeClient(await serviceAccountConfig(api.url, sa));
  t.teardown(() => kube.close());
  const logger = createLogger({ component: 'injector', level: 'error', sink: () => undefined });
  const injectors: RunningInjector[] = [];
  const metrics: InjectorMetrics[] = [];
  for (let i = 0; i < replicas; i++) {
    const m = createInjectorMetrics(createRegistry());
    const inj = await startInjector({
      server: { host: '127.0.0.1', port: 0, path: '/inject', maxBodyBytes: 1 << 20, requestTimeoutMs: 5_000 },
      inject: {}, service: 'ccmesh-injector', namespace: 'ccmesh-system', webhookConfiguration: NAME, reloadIntervalMs: 1_000, tlsDir: undefined,
      ...(caSecret !== undefined ? { caSecret } : {}), rotation,
    }, { logger, metrics: m, clock: systemClock, kube, backoff: { initialMs: 10, maxMs: 40 } });
    t.teardown(() => inj.close());
    await inj.ready;
    injectors.push(inj);
    metrics.push(m);
  }
  return { api, injectors, metrics };
}

async function run(t: Pick<typeof tap, 'teardown' | 'comment'>, caSecret: string | undefined, replicas: number, seconds: number, rotation: RotationConfig = ROTATION) {
  const { api, injectors, metrics } = await startInjectors(t, caSecret, replicas, rotation);
  // What the API server trusts: the caBundle as it was API_LAG_MS ago.
  const history: { at: number; bundle: string }[] = [{ at: Date.now(), bundle: bundleOf(api) }];
  const failures: string[] = [];
  const leaves = new Set<string>();
  const bundles = new Set<string>([bundleOf(api)]);
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  const inflight: Promise<void>[] = [];
  while (Date.now() < end) {
    const now = Date.now();
    const current = bundleOf(api);
    if (current !== history.at(-1)!.bundle) history.push({ at: now, bundle: current });
    bundles.add(current);
    const trusted = [...history].reverse().find((h) => h.at <= now - API_LAG_MS)?.bundle ?? history[0]!.bundle;
    const target = injectors[sent % injectors.length]!;
    sent++;
    inflight.push(review(target.port, trusted).then((r) => {
      if (r.leaf !== undefined) leaves.add(r.leaf);
      if (r.error !== undefined) failures.push(`port ${target.port}: ${r.error}`);
    }));
    await sleep(10);
  }
  await Promise.all(inflight);
  t.comment(`${sent} reviews, ${failures.length} failed, ${leaves.size} leaves served, ${bundles.size} caBundles`);
  return { sent, failures, leaves, bundles, api, injectors, metrics };
}

/** The current value of a metric without labels, or of its child with `labels`. */
async function value(metric: Counter | Gauge, labels: Record<string, string> = {}): Promise<number | undefined> {
  return (await metric.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

/** notAfter (Unix seconds) of the leaf the injector on `port` serves now. */
function servedNotAfter(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: SVC, rejectUnauthorized: false }, () => {
      const notAfter = Date.parse(socket.getPeerCertificate().valid_to) / 1000;
      socket.destroy();
      resolve(notAfter);
    });
    socket.on('error', reject);
  });
}

/** The expiry gauge equals the served leaf's notAfter (read around the handshake: a renewal may fall in between). */
async function expiryMatchesServed(t: Pick<typeof tap, 'ok'>, m: InjectorMetrics, port: number): Promise<void> {
  const before = await value(m.servingCertExpiry);
  const served = await servedNotAfter(port);
  const after = await value(m.servingCertExpiry);
  t.ok(served === before || served === after, `ccmesh_injector_serving_cert_expiry_timestamp_seconds ${before}/${after} is the served leaf's notAfter ${served}`);
}

void t.test('in-memory CA: the leaf is renewed and the CA rotated with an overlap while reviews keep arriving; none fails', async (t) => {
  const r = await run(t, undefined, 1, 13);
  t.ok(r.sent > 100, `${r.sent} reviews`);
  t.same(r.failures.slice(0, 5), [], 'no review failed (no expired leaf, no leaf of an untrusted CA)');
  t.ok(r.leaves.size >= 4, `${r.leaves.size} leaves served: renewed before expiry, again and again`);
  const overlapped = [...r.bundles].filter((b) => b.match(/BEGIN CERTIFICATE/g)?.length === 2);
  t.ok(overlapped.length >= 1, 'a caBundle held the new and the current CA at once');
  const cas = new Set([...r.bundles].map((b) => new X509Certificate(b).fingerprint256));
  t.ok(cas.size >= 2, `${cas.size} CAs: rotated before expiry`);
  const m = r.metrics[0]!;
  const renewed = (await value(m.servingCertRenewals, { result: 'ok' }))!;
  const rotated = (await value(m.servingCaRotations))!;
  t.ok(rotated >= 1, `ccmesh_injector_serving_ca_rotations_total ${rotated}`);
  t.ok(renewed >= 2, `ccmesh_injector_serving_cert_renewals_total{result="ok"} ${renewed}`);
  t.ok(renewed + rotated >= r.leaves.size - 1, 'every leaf served after the first came from a counted renewal or rotation');
  t.equal(await value(m.servingCertRenewals, { result: 'error' }), 0, 'no failed renewal');
  await expiryMatchesServed(t, m, r.injectors[0]!.port);
});

void t.test('shared CA Secret: two replicas renew their leaves from the Secret\'s CA key; none fails', async (t) => {
  // Leaf renewal only: the Secret's CA lives far longer than the run, so no replica stages a rotation (that is
  // shared-rotation.test.ts), however slowly a loaded machine starts the replicas.
  const r = await run(t, 'ccmesh-injector-ca', 2, 9, { ...ROTATION, caLifetimeMs: 10 * 60_000 });
  t.same(r.failures.slice(0, 5), [], 'no review failed');
  t.ok(r.leaves.size >= 3, `${r.leaves.size} leaves served`);
  t.equal(r.bundles.size, 1, 'the caBundle never changed: every leaf is signed by the Secret\'s CA');
  const stored = r.api.secrets.get('ccmesh-system/ccmesh-injector-ca') as { data: Record<string, string> } | undefined;
  t.ok(stored?.data['ca.key'], 'the Secret holds the CA key');
  for (const [i, m] of r.metrics.entries()) {
    t.ok((await value(m.servingCertRenewals, { result: 'ok' }))! >= 1, `replica ${i}: renewals counted`);
    t.equal(await value(m.servingCaRotations), 0, `replica ${i}: the Secret's CA is never rotated`);
    await expiryMatchesServed(t, m, r.injectors[i]!.port);
  }
});

void t.test('a failed renewal check is counted as an error and retried: the CA rotation still completes', async (t) => {
  // The CA is due for rotation 2 s after start; its caBundle patch is refused once (403: not retried inside the patch).
  const { api, injectors, metrics } = await startInjectors(t, undefined, 1, { caLifetimeMs: 3_000, leafLifetimeMs: 3_000, checkIntervalMs: 100, propagationMs: 300 });
  const m = metrics[0]!;
  t.equal(await value(m.servingCertRenewals, { result: 'error' }), 0, 'none before');
  api.failNext.push(403);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && ((await value(m.servingCertRenewals, { result: 'error' }))! < 1 || (await value(m.servingCaRotations))! < 1)) await sleep(50);
  t.equal(await value(m.servingCertRenewals, { result: 'error' }), 1, 'the refused patch: one failed renewal check');
  t.ok((await value(m.servingCaRotations))! >= 1, 'the next check published the new CA and rotated');
  t.equal(api.failNext.length, 0, 'the scripted failure was used');
  await expiryMatchesServed(t, m, injectors[0]!.port);
});
