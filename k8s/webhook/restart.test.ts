/**
 * The injector as no single point of failure, in process: two injectors serve one shared certificate (the install's
 * `injector.tlsSecret`, `--tls-dir`) behind a stand-in for their Service, AdmissionReviews keep arriving, and both are
 * replaced one after the other as a RollingUpdate with `maxUnavailable: 0` does it — the new pod ready first, then
 * the old one deleted, which leaves the Service's endpoints only after a propagation lag while it shuts down. Every
 * review is answered (TLS trusted through the caBundle on FakeKubeApi, HTTP 200, allowed): none refused. The same
 * rollout with no shutdown delay refuses some (connections to a closed listener), so the test can fail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
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
import { startInjector, type RunningInjector } from './injector.js';
import { KubeClient, serviceAccountConfig } from './kube-client.js';
import { createInjectorMetrics } from './metrics.js';
import { createSelfManagedCredentials, serviceDnsNames } from './serving-cert.js';

const NAME = 'ccmesh-injector';
const SVC = 'ccmesh-injector.ccmesh-system.svc';
const REVIEW = readFileSync(join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission', 'pod-from-replicaset.json'), 'utf8');
/** How long a deleted pod stays in the Service's endpoints (endpoint controller + node proxies). */
const ENDPOINT_LAG_MS = 150;

/** One AdmissionReview over a fresh TLS connection, trusting only `ca`; resolves to what went wrong, or undefined. */
function review(port: number, ca: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject?timeout=10s', method: 'POST', servername: SVC, ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(`HTTP ${String(res.statusCode)}`);
        const allowed = (JSON.parse(Buffer.concat(chunks).toString()) as { response?: { allowed?: boolean } }).response?.allowed;
        resolve(allowed === true ? undefined : 'not allowed');
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end(REVIEW);
  });
}

/** Where the replicas' shared certificate comes from: a mounted Secret (`--tls-dir`) or the CA Secret they make (`--ca-secret`). */
type Mode = 'tls-dir' | 'ca-secret';

async function rollout(t: Pick<typeof tap, 'teardown' | 'comment'>, shutdownDelayMs: number, mode: Mode = 'tls-dir'): Promise<{ sent: number; failures: string[]; served: number[]; api: FakeKubeApi }> {
  const api = await FakeKubeApi.start('tok', webhookConfigurationFixture(NAME, ['inject.ccmesh.dev']));
  t.teardown(() => api.close());
  const sa = mkdtempSync(join(tmpdir(), 'ccmesh-sa-'));
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tls-'));
  t.teardown(() => {
    rmSync(sa, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), api.caPem);
  const kube = new KubeClient(await serviceAccountConfig(api.url, sa));
  t.teardown(() => kube.close());
  // The Secret every replica mounts (what cert-manager writes).
  const creds = await createSelfManagedCredentials(serviceDnsNames('ccmesh-injector', 'ccmesh-system'), systemClock);
  writeFileSync(join(dir, 'tls.key'), creds.keyPem);
  writeFileSync(join(dir, 'tls.crt'), creds.certPem);
  writeFileSync(join(dir, 'ca.crt'), creds.caPem!);

  const logger = createLogger({ component: 'injector', level: 'error', sink: () => undefined });
  const start = async (): Promise<RunningInjector> => {
    const inj = await startInjector({
      server: { host: '127.0.0.1', port: 0, path: '/inject', maxBodyBytes: 1 << 20, requestTimeoutMs: 5_000 },
      inject: {}, service: 'ccmesh-injector', namespace: 'ccmesh-system', webhookConfiguration: NAME, reloadIntervalMs: 1_000, shutdownDelayMs,
      ...(mode === 'tls-dir' ? { tlsDir: dir } : { tlsDir: undefined, caSecret: 'ccmesh-injector-ca' }),
    }, { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube, backoff: { initialMs: 10, maxMs: 40 } });
    t.teardown(() => inj.close());
    await inj.ready;
    return inj;
  };

  // The Service: ready endpoints, picked round-robin per review, as the API server's connections spread over them.
  // Started together, as a Deployment's first two pods are: in ca-secret mode they race to create the Secret.
  const endpoints: RunningInjector[] = await Promise.all([start(), start()]);
  const failures: string[] = [];
  const served = new Map<number, number>();
  let sent = 0;
  let running = true;
  const load = (async () => {
    const inflight: Promise<void>[] = [];
    while (running) {
      const target = endpoints[sent % endpoints.length]!;
      const bundle = Buffer.from((api.config!.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle, 'base64').toString();
      sent++;
      inflight.push(review(target.port, bundle).then((err) => {
        if (err !== undefined) failures.push(`port ${target.port}: ${err}`);
        else served.set(target.port, (served.get(target.port) ?? 0) + 1);
      }));
      await sleep(3);
    }
    await Promise.all(inflight);
  })();

  for (let i = 0; i < 2; i++) {
    await sleep(100);
    const fresh = await start(); // maxSurge 1: the new pod first, ready before anything is deleted (maxUnavailable 0)
    endpoints.push(fresh);
    const old = endpoints[0]!;
    const closing = old.close(); // deleted: SIGTERM now …
    await sleep(ENDPOINT_LAG_MS); // … and out of the endpoints only once the change has propagated
    endpoints.splice(endpoints.indexOf(old), 1);
    await closing;
  }
  await sleep(100);
  running = false;
  await load;
  t.comment(`${sent} reviews, ${failures.length} failed, served by ${served.size} injectors`);
  return { sent, failures, served: [...served.values()], api };
}

void t.test('rolling restart of two injectors on a shared certificate: every review answered', async (t) => {
  const r = await rollout(t, ENDPOINT_LAG_MS * 2);
  t.ok(r.sent > 40, `${r.sent} reviews sent during the rollout`);
  t.same(r.failures, [], 'none refused, none failed TLS');
  t.equal(r.served.length, 4, 'the two old and the two new injectors each answered');
});

void t.test('control: the same rollout without a shutdown delay refuses reviews', async (t) => {
  const r = await rollout(t, 0);
  t.ok(r.failures.length > 0, `${r.failures.length} failed`);
  t.ok(r.failures.every((f) => /ECONNREFUSED|ECONNRESET|socket hang up/.test(f)), `connections to a stopped injector: ${r.failures.slice(0, 3).join('; ')}`);
});

void t.test('the same rollout on the shared CA Secret the replicas make themselves: every review answered', async (t) => {
  const r = await rollout(t, ENDPOINT_LAG_MS * 2, 'ca-secret');
  t.same(r.failures, [], 'none refused, none failed TLS');
  t.equal(r.served.length, 4);
  t.equal(r.api.secrets.size, 1, 'one Secret, made by the first replica and read by the other three');
  const created = r.api.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/secrets'));
  t.ok(created.length >= 1 && created.length <= 2, `${created.length} create attempts (two when the first pair raced)`);
  const stored = r.api.secrets.get('ccmesh-system/ccmesh-injector-ca') as { data: Record<string, string> } | undefined;
  const bundle = Buffer.from((r.api.config!.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle, 'base64').toString();
  t.equal(bundle, Buffer.from(stored?.data['ca.crt'] ?? '', 'base64').toString(), 'the caBundle is the Secret\'s CA, never replaced by a restarted replica');
});
