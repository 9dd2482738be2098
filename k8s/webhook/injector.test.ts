/**
 * The injector unit end to end on loopback: serving credentials → HTTPS → caBundle patched on FakeKubeApi → ready.
 * The API server's view is simulated faithfully: a client trusts exactly the CA found in the stored caBundle.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type tap from 'tap';
import { systemClock } from '../../lib/clock.js';
import { CcmeshError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { repoRoot } from '../../test/fixtures.js';
import { FakeKubeApi, webhookConfigurationFixture } from '../../test/support/k8s/fake-kube-api.js';
import { startInjector, type InjectorConfig } from './injector.js';
import { KubeClient, serviceAccountConfig } from './kube-client.js';
import { createInjectorMetrics } from './metrics.js';
import { createSelfManagedCredentials, serviceDnsNames } from './serving-cert.js';

const SVC = 'ccmesh-injector.ccmesh-system.svc';
const NAME = 'ccmesh-injector';
const FAST = { initialMs: 10, maxMs: 40 };

function post(port: number, ca: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', servername: SVC, ca, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The CA PEM(s) the API server would trust: the decoded caBundle of the first webhook. */
function trustedBundle(api: FakeKubeApi): string | undefined {
  const b = (api.config!.webhooks as { clientConfig: { caBundle?: string } }[])[0]!.clientConfig.caBundle;
  return b === undefined ? undefined : Buffer.from(b, 'base64').toString('utf8');
}

async function harness(t: Pick<typeof tap, 'teardown'>) {
  const api = await FakeKubeApi.start('tok', webhookConfigurationFixture(NAME, ['inject.ccmesh.dev']));
  t.teardown(() => api.close());
  const sa = mkdtempSync(join(tmpdir(), 'ccmesh-sa-'));
  t.teardown(() => rmSync(sa, { recursive: true, force: true }));
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), api.caPem);
  const kube = new KubeClient(await serviceAccountConfig(api.url, sa));
  t.teardown(() => kube.close());
  const logs: string[] = [];
  const logger = createLogger({ component: 'injector', level: 'debug', sink: (l) => logs.push(l) });
  return { api, kube, logger, logs };
}

function config(tlsDir?: string): InjectorConfig {
  return {
    server: { host: '127.0.0.1', port: 0, path: '/inject', maxBodyBytes: 1 << 20, requestTimeoutMs: 5_000 },
    inject: {},
    service: 'ccmesh-injector',
    namespace: 'ccmesh-system',
    webhookConfiguration: NAME,
    tlsDir,
    reloadIntervalMs: 50,
  };
}

void t.test('self-managed: ready only after the caBundle holds the CA; the API server view then trusts it', async (t) => {
  const { api, kube, logger } = await harness(t);
  api.failNext.push(503, 503);
  const metrics = createInjectorMetrics(createRegistry());
  const inj = await startInjector(config(), { logger, metrics, clock: systemClock, kube, backoff: FAST });
  t.teardown(() => inj.close());
  t.equal(inj.isReady(), false, 'not ready before the patch');
  t.equal(trustedBundle(api), undefined);
  await inj.ready;
  t.equal(inj.isReady(), true);
  t.equal((await metrics.ready.get()).values[0]?.value, 1);
  const ca = trustedBundle(api);
  t.match(ca, /^-----BEGIN CERTIFICATE-----\n/);
  t.equal((await post(inj.port, ca!, '/readyz')).status, 200);
  const review = readFileSync(join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission', 'pod-from-replicaset.json'), 'utf8');
  const r = await post(inj.port, ca!, '/inject?timeout=10s', review);
  t.equal(r.status, 200);
  const answer = JSON.parse(r.body) as { response: { uid: string; allowed: boolean; patchType: string } };
  t.match(answer.response, { uid: '0b8a2d0e-5c0f-4b7e-9a51-3f1d2c4e8a71', allowed: true, patchType: 'JSONPatch' });
  t.equal((await metrics.requests.get()).values.find((v) => v.labels.result === 'injected')?.value, 1);
});

void t.test('self-managed without any Kubernetes API is a usage error', async (t) => {
  const { logger } = await harness(t);
  const err = await startInjector(config(), { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube: undefined }).then(
    async (i) => (await i.close(), undefined),
    (e: unknown) => e,
  );
  t.ok(err instanceof CcmeshError);
  t.match((err as Error).message, /no Kubernetes API is configured/);
});

void t.test('a 403 from the API server fails `ready` with the RBAC hint', async (t) => {
  const { api, kube, logger } = await harness(t);
  api.failNext.push(403);
  const inj = await startInjector(config(), { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube, backoff: FAST });
  t.teardown(() => inj.close());
  await t.rejects(inj.ready, /HTTP 403 .* needs get and patch on mutatingwebhookconfigurations\/ccmesh-injector/);
  t.equal(inj.isReady(), false);
});

void t.test('--tls-dir: served as supplied; a new CA is added to the bundle before the server switches to it', async (t) => {
  const { api, kube, logger, logs } = await harness(t);
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (c: { keyPem: string; certPem: string; caPem: string | undefined }): void => {
    writeFileSync(join(dir, 'tls.key'), c.keyPem);
    writeFileSync(join(dir, 'tls.crt'), c.certPem);
    if (c.caPem !== undefined) writeFileSync(join(dir, 'ca.crt'), c.caPem);
  };
  const first = await createSelfManagedCredentials(serviceDnsNames('ccmesh-injector', 'ccmesh-system'), systemClock);
  write(first);
  const inj = await startInjector(config(dir), { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube, backoff: FAST });
  t.teardown(() => inj.close());
  await inj.ready;
  t.equal(trustedBundle(api), first.caPem);
  t.equal((await post(inj.port, first.caPem!, '/healthz')).status, 200);

  writeFileSync(join(dir, 'tls.key'), 'not a key');
  await sleep(150);
  t.equal((await post(inj.port, first.caPem!, '/healthz')).status, 200, 'a half-written update keeps the old credentials');
  t.ok(logs.some((l) => l.includes('serving credentials unusable')));

  const second = await createSelfManagedCredentials([SVC], systemClock);
  write(second);
  for (let i = 0; i < 100 && !logs.some((l) => l.includes('serving credentials reloaded')); i++) await sleep(20);
  t.equal(trustedBundle(api), second.caPem! + first.caPem!, 'bundle holds the new CA and the old one');
  t.equal((await post(inj.port, second.caPem!, '/healthz')).status, 200, 'new connections get the new certificate');
  await t.rejects(post(inj.port, first.caPem!, '/healthz'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
});

void t.test('--tls-dir without ca.crt needs no API and is ready at once', async (t) => {
  const { logger } = await harness(t);
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = await createSelfManagedCredentials([SVC], systemClock);
  writeFileSync(join(dir, 'tls.key'), c.keyPem);
  writeFileSync(join(dir, 'tls.crt'), c.certPem);
  const inj = await startInjector(config(dir), { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube: undefined });
  t.teardown(() => inj.close());
  await inj.ready;
  t.equal((await post(inj.port, c.caPem!, '/readyz')).status, 200);
});

void t.test('--tls-dir with a key that does not match the certificate is refused at startup', async (t) => {
  const { logger } = await harness(t);
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = await createSelfManagedCredentials([SVC], systemClock);
  const b = await createSelfManagedCredentials([SVC], systemClock);
  writeFileSync(join(dir, 'tls.key'), a.keyPem);
  writeFileSync(join(dir, 'tls.crt'), b.certPem);
  await t.rejects(startInjector(config(dir), { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube: undefined }), /tls.key is not the key of tls.crt/);
});

void t.test('--ca-secret: an existing Secret is served as is; an unusable one is refused naming it; no API is a usage error', async (t) => {
  const { api, kube, logger } = await harness(t);
  const c = await createSelfManagedCredentials(serviceDnsNames('ccmesh-injector', 'ccmesh-system'), systemClock);
  const other = await createSelfManagedCredentials([SVC], systemClock);
  const put = (data: Record<string, string>): void => {
    api.secrets.set('ccmesh-system/shared-ca', { kind: 'Secret', metadata: { name: 'shared-ca' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
  };
  const cfg = { ...config(), caSecret: 'shared-ca' };
  const rt = { logger, metrics: createInjectorMetrics(createRegistry()), clock: systemClock, kube, backoff: FAST };
  put({ 'tls.crt': c.certPem, 'tls.key': c.keyPem, 'ca.crt': other.caPem! });
  await t.rejects(startInjector(cfg, rt), /secret ccmesh-system\/shared-ca are unusable: tls\.crt is not signed by ca\.crt/, 'a leaf the published CA did not sign');
  put({ 'tls.crt': c.certPem, 'tls.key': other.keyPem, 'ca.crt': c.caPem! });
  await t.rejects(startInjector(cfg, rt), /tls\.key is not the key of tls\.crt/);
  put({ 'tls.crt': c.certPem, 'tls.key': c.keyPem });
  await t.rejects(startInjector(cfg, rt), /needs tls\.crt, tls\.key and ca\.crt/);
  put({ 'tls.crt': c.certPem, 'tls.key': c.keyPem, 'ca.crt': c.caPem! });
  const inj = await startInjector(cfg, rt);
  t.teardown(() => inj.close());
  await inj.ready;
  t.equal(trustedBundle(api), c.caPem, 'the Secret\'s CA is published');
  t.equal((await post(inj.port, c.caPem!, '/healthz')).status, 200, 'and its certificate served');
  t.notOk(api.requests.some((q) => q.method === 'POST'), 'an existing Secret is never replaced');
  await t.rejects(startInjector(cfg, { ...rt, kube: undefined }), /shared serving CA lives in secret ccmesh-system\/shared-ca, but no Kubernetes API is configured/);
});
