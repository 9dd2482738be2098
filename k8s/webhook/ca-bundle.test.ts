/**
 * The caBundle patch against FakeKubeApi over real HTTPS: method, path, bearer token, content type and the exact
 * JSON Patch are checked; retries on 500/409/404 and no retry on 403 (surfaced with the RBAC hint).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type tap from 'tap';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { syncCaBundle } from './ca-bundle.js';
import { FakeKubeApi, webhookConfigurationFixture } from '../../test/support/k8s/fake-kube-api.js';
import { KubeApiError, KubeClient, inClusterApiUrl, serviceAccountConfig } from './kube-client.js';
import { createInjectorMetrics } from './metrics.js';

const NAME = 'ccmesh-injector';
const PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${NAME}`;
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const CA_B64 = Buffer.from(CA).toString('base64');
const FAST = { initialMs: 5, maxMs: 20 };

async function setup(t: Pick<typeof tap, 'teardown'>, hooks: readonly string[] = ['inject.ccmesh.dev', 'second.ccmesh.dev']) {
  const api = await FakeKubeApi.start('token-1', webhookConfigurationFixture(NAME, hooks));
  t.teardown(() => api.close());
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-sa-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'token-1\n');
  writeFileSync(join(dir, 'ca.crt'), api.caPem);
  const client = new KubeClient(await serviceAccountConfig(api.url, dir));
  t.teardown(() => client.close());
  const lines: string[] = [];
  const logger = createLogger({ component: 'test', level: 'debug', sink: (l) => lines.push(l) });
  const metrics = createInjectorMetrics(createRegistry());
  return { api, dir, client, logger, metrics, lines };
}

void t.test('in-cluster URL from the service env values', async (t) => {
  t.equal(inClusterApiUrl('10.96.0.1', '443'), 'https://10.96.0.1:443');
  t.equal(inClusterApiUrl('fd00::1', '443'), 'https://[fd00::1]:443');
  t.equal(inClusterApiUrl(undefined, '443'), undefined);
  t.equal(inClusterApiUrl('10.96.0.1', ''), undefined);
});

void t.test('patches every webhook with a guarded JSON Patch, then finds it current', async (t) => {
  const { api, client, logger, metrics } = await setup(t);
  t.equal(await syncCaBundle(NAME, CA, { client, logger, metrics, backoff: FAST }), 'patched');
  t.equal(api.requests.length, 2);
  const [get, patch] = api.requests;
  t.match(get, { method: 'GET', path: PATH, authorization: 'Bearer token-1' });
  t.match(patch, { method: 'PATCH', path: PATH, authorization: 'Bearer token-1', contentType: 'application/json-patch+json' });
  t.same(JSON.parse(patch!.body), [
    { op: 'test', path: '/webhooks/0/name', value: 'inject.ccmesh.dev' },
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA_B64 },
    { op: 'test', path: '/webhooks/1/name', value: 'second.ccmesh.dev' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: CA_B64 },
  ]);
  const hooks = api.config!.webhooks as { clientConfig: { caBundle?: string; service: unknown } }[];
  t.same(hooks.map((h) => h.clientConfig.caBundle), [CA_B64, CA_B64], 'the stored configuration now carries the bundle');
  t.same(hooks[0]!.clientConfig.service, { namespace: 'ccmesh-system', name: 'ccmesh-injector', path: '/inject', port: 443 }, 'the rest of clientConfig is untouched');

  t.equal(await syncCaBundle(NAME, CA, { client, logger, metrics, backoff: FAST }), 'unchanged');
  t.equal(api.requests.length, 3, 'no PATCH when the bundle is already current');
  t.equal((await metrics.caBundlePatches.get()).values.find((v) => v.labels.result === 'ok')?.value, 1);
  t.equal((await metrics.caBundlePatches.get()).values.find((v) => v.labels.result === 'unchanged')?.value, 1);
});

void t.test('retries 500, 409 and 404 (configuration not created yet) with backoff', async (t) => {
  const { api, client, logger, metrics, lines } = await setup(t);
  api.failNext.push(500, 404);
  // A GET succeeding, then the PATCH conflicting.
  t.equal(await syncCaBundle(NAME, CA, {
    client: {
      getWebhooks: (n) => client.getWebhooks(n),
      patchCaBundle: async (n, e, b) => {
        if (api.requests.filter((r) => r.method === 'PATCH').length === 0) api.failNext.push(409);
        return client.patchCaBundle(n, e, b);
      },
    },
    logger,
    metrics,
    backoff: FAST,
  }), 'patched');
  t.same(api.requests.map((r) => r.method), ['GET', 'GET', 'GET', 'PATCH', 'GET', 'PATCH']);
  t.same((api.config!.webhooks as { clientConfig: { caBundle?: string } }[]).map((h) => h.clientConfig.caBundle), [CA_B64, CA_B64]);
  t.equal((await metrics.caBundlePatches.get()).values.find((v) => v.labels.result === 'error')?.value, 3);
  t.equal(lines.filter((l) => l.includes('retrying')).length, 3, 'each failure logged once');
  t.match(lines.find((l) => l.includes('retrying')), /HTTP 500/);
});

void t.test('a webhook reordered between GET and PATCH fails the test op (422) and is retried on fresh data', async (t) => {
  const { api, client, logger } = await setup(t);
  let first = true;
  await syncCaBundle(NAME, CA, {
    client: {
      getWebhooks: async (n) => {
        const hooks = await client.getWebhooks(n);
        if (first) {
          first = false;
          (api.config!.webhooks as unknown[]).reverse();
        }
        return hooks;
      },
      patchCaBundle: (n, e, b) => client.patchCaBundle(n, e, b),
    },
    logger,
    backoff: FAST,
  });
  t.same(api.requests.map((r) => r.method), ['GET', 'PATCH', 'GET', 'PATCH']);
  const hooks = api.config!.webhooks as { name: string; clientConfig: { caBundle?: string } }[];
  t.same(hooks.map((h) => [h.name, h.clientConfig.caBundle]), [['second.ccmesh.dev', CA_B64], ['inject.ccmesh.dev', CA_B64]]);
});

void t.test('403 is not retried and says which permission is missing', async (t) => {
  const { api, client, logger } = await setup(t);
  api.failNext.push(403);
  const err = await syncCaBundle(NAME, CA, { client, logger, backoff: FAST }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeApiError);
  t.equal((err as KubeApiError).status, 403);
  t.equal((err as KubeApiError).code, 'CCMESH_ERR_K8S_API');
  t.match((err as Error).message, /reading mutatingwebhookconfiguration ccmesh-injector: HTTP 403 from the API server: scripted failure 403/);
  t.match((err as Error).message, /needs get and patch on mutatingwebhookconfigurations\/ccmesh-injector/);
  t.equal(api.requests.length, 1, 'one request, no retry');
});

void t.test('the token file is re-read for every request; a wrong token is a clear 401', async (t) => {
  const { api, dir, client, logger } = await setup(t);
  writeFileSync(join(dir, 'token'), 'token-2');
  api.token = 'token-2';
  await client.getWebhooks(NAME);
  t.equal(api.requests[0]!.authorization, 'Bearer token-2');
  api.token = 'other';
  const err = await syncCaBundle(NAME, CA, { client, logger, backoff: FAST }).then(() => undefined, (e: unknown) => e);
  t.match((err as Error).message, /HTTP 401 from the API server: Unauthorized/);
});

void t.test('an API server whose certificate does not chain to the service-account CA is not trusted', async (t) => {
  const { api, dir, logger } = await setup(t);
  const other = await FakeKubeApi.start('x', undefined);
  t.teardown(() => other.close());
  writeFileSync(join(dir, 'ca.crt'), other.caPem);
  const client = new KubeClient(await serviceAccountConfig(api.url, dir));
  t.teardown(() => client.close());
  const err = await client.getWebhooks(NAME).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeApiError && err.retryable, 'a TLS failure is an unanswered call (retryable)');
  t.match((err as Error).message, /did not answer/);
  t.equal(api.requests.length, 0, 'no request reached the server');
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('stopped')), 50);
  await t.rejects(syncCaBundle(NAME, CA, { client, logger, signal: ac.signal, backoff: FAST }), /stopped/, 'retrying stops on abort');
});

void t.test('a merge is compare-and-swap: a bundle another replica wrote between our read and our patch is merged, not overwritten', async (t) => {
  const { api, client, logger, metrics } = await setup(t);
  const OURS = '-----BEGIN CERTIFICATE-----\nMIIBours\n-----END CERTIFICATE-----\n';
  const THEIRS = '-----BEGIN CERTIFICATE-----\nMIIBtheirs\n-----END CERTIFICATE-----\n';
  const hooks = () => api.config!.webhooks as { clientConfig: { caBundle?: string } }[];
  for (const h of hooks()) h.clientConfig.caBundle = CA_B64;
  let reads = 0;
  const merge = (published: string | undefined): string => {
    reads++;
    // Another replica patches the configuration right after our GET, before our PATCH.
    if (reads === 1) for (const h of hooks()) h.clientConfig.caBundle = Buffer.from(THEIRS + CA).toString('base64');
    const kept = (published ?? '').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
    return [...new Set([OURS, ...kept])].join('');
  };
  t.equal(await syncCaBundle(NAME, merge, { client, logger, metrics, backoff: FAST }), 'patched');
  const patches = api.requests.filter((q) => q.method === 'PATCH');
  t.same(patches.map((q) => q.status), [422, 200], 'the first patch failed its test of the bundle read, the retry succeeded');
  t.same(JSON.parse(patches[0]!.body)[1], { op: 'test', path: '/webhooks/0/clientConfig/caBundle', value: CA_B64 });
  t.same(hooks().map((h) => Buffer.from(h.clientConfig.caBundle!, 'base64').toString()), [OURS + THEIRS + CA, OURS + THEIRS + CA], 'both replicas\' CAs are published');
});
