/**
 * The webhook server over real TLS: a client trusting only the self-managed CA and checking the Service DNS name
 * connects; one without the CA, or expecting another name, is refused. HTTP edges (400/404/405/413/415/500),
 * probes, metrics and a credential swap are checked over the same connection type the API server uses.
 */
import { request, type RequestOptions } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import t from 'tap';
import type tap from 'tap';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import type { AdmissionResult } from './admission.js';
import { createInjectorMetrics, type InjectorMetrics } from './metrics.js';
import { startWebhookServer, type RunningWebhookServer } from './server.js';
import { createSelfManagedCredentials, serviceDnsNames, type ServingCredentials } from './serving-cert.js';

const SVC = 'ccmesh-injector.ccmesh-system.svc';

interface Reply {
  status: number;
  body: string;
  contentType: string | undefined;
  san: string | undefined;
}

function call(port: number, opts: { ca?: string; servername?: string; method?: string; path?: string; body?: string | Buffer; type?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const o: RequestOptions = {
      host: '127.0.0.1',
      port,
      method: opts.method ?? 'POST',
      path: opts.path ?? '/inject?timeout=10s',
      servername: opts.servername ?? SVC,
      headers: { host: opts.servername ?? SVC, ...(opts.body !== undefined ? { 'content-type': opts.type ?? 'application/json' } : {}) },
      agent: false,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    };
    const req = request(o, (res) => {
      const chunks: Buffer[] = [];
      const san = (res.socket as TLSSocket).getPeerCertificate().subjectaltname;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), contentType: res.headers['content-type'], san }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const ANSWER: AdmissionResult = {
  ok: true,
  outcome: 'injected',
  review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch', patch: 'W10=' } },
  ops: [],
  subject: 'Pod ns/x',
};

async function start(t: Pick<typeof tap, 'teardown'>, review: (body: unknown) => AdmissionResult = () => ANSWER, maxBodyBytes = 64 * 1024, requestTimeoutMs = 5_000): Promise<{ server: RunningWebhookServer; creds: ServingCredentials; metrics: InjectorMetrics; seen: unknown[]; setReady(v: boolean): void; logs: string[] }> {
  const creds = await createSelfManagedCredentials(serviceDnsNames('ccmesh-injector', 'ccmesh-system'), systemClock);
  const metrics = createInjectorMetrics(createRegistry());
  const seen: unknown[] = [];
  const logs: string[] = [];
  let ready = false;
  const server = await startWebhookServer(
    { host: '127.0.0.1', port: 0, path: '/inject', maxBodyBytes, requestTimeoutMs },
    creds,
    { logger: createLogger({ component: 'test', level: 'debug', sink: (l) => logs.push(l) }), metrics, ready: () => ready, review: (b) => (seen.push(b), review(b)) },
  );
  t.teardown(() => server.close(100));
  return { server, creds, metrics, seen, logs, setReady: (v) => (ready = v) };
}

async function count(metrics: InjectorMetrics, result: string): Promise<number | undefined> {
  return (await metrics.requests.get()).values.find((v) => v.labels.result === result)?.value;
}

void t.test('serves over TLS to a client trusting only the self-managed CA', async (t) => {
  const { server, creds, seen, metrics } = await start(t);
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1' } };
  const r = await call(server.port, { ca: creds.caPem!, body: JSON.stringify(review) });
  t.equal(r.status, 200);
  t.equal(r.contentType, 'application/json');
  t.same(JSON.parse(r.body), ANSWER.ok ? ANSWER.review : {});
  t.same(seen, [review], 'the parsed body reached the review function');
  t.equal(r.san, `DNS:${SVC}, DNS:${SVC}.cluster.local, DNS:ccmesh-injector.ccmesh-system, DNS:ccmesh-injector`);
  t.equal(await count(metrics, 'injected'), 1);

  await t.rejects(call(server.port, { body: '{}' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'without the CA the handshake fails');
  await t.rejects(call(server.port, { ca: creds.caPem!, servername: 'evil.ccmesh-system.svc', body: '{}' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'another name fails');
  const other = await createSelfManagedCredentials([SVC], systemClock);
  await t.rejects(call(server.port, { ca: other.caPem!, body: '{}' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'another CA fails');
});

void t.test('HTTP edges: malformed, wrong method/path/type, too large, faults', async (t) => {
  let throwIt = false;
  const { server, creds, metrics, logs } = await start(t, (body) => {
    if (throwIt) throw new Error('boom');
    return (body as { bad?: boolean }).bad ? { ok: false, problems: ['request.uid is missing', 'kind is "x"'] } : ANSWER;
  }, 1024);
  const ca = creds.caPem!;
  let r = await call(server.port, { ca, body: '{"bad":true}' });
  t.same([r.status, r.body], [400, 'malformed AdmissionReview:\n  request.uid is missing\n  kind is "x"\n']);
  r = await call(server.port, { ca, body: '{not json' });
  t.equal(r.status, 400);
  t.match(r.body, /^malformed AdmissionReview: body is not JSON/);
  r = await call(server.port, { ca, body: '{}', type: 'text/plain' });
  t.equal(r.status, 415);
  r = await call(server.port, { ca, body: '{}', type: 'application/json; charset=utf-8' });
  t.equal(r.status, 200, 'a charset parameter is fine');
  r = await call(server.port, { ca, method: 'GET' });
  t.equal(r.status, 405);
  r = await call(server.port, { ca, path: '/mutate', body: '{}' });
  t.equal(r.status, 404);
  r = await call(server.port, { ca, body: Buffer.alloc(2048, 0x20) });
  t.equal(r.status, 413, 'body over the bound');
  throwIt = true;
  r = await call(server.port, { ca, body: '{}' });
  t.same([r.status, r.body], [500, 'internal error while reviewing the request: boom\n']);
  t.equal(await count(metrics, 'malformed'), 4);
  t.equal(await count(metrics, 'error'), 1);
  t.equal(await count(metrics, 'injected'), 1);
  t.ok(logs.some((l) => JSON.parse(l).msg === 'admission request failed'), 'the fault is logged');
});

void t.test('probes: /healthz always, /readyz once ready', async (t) => {
  const { server, creds, setReady } = await start(t);
  const ca = creds.caPem!;
  t.equal((await call(server.port, { ca, method: 'GET', path: '/healthz' })).status, 200);
  const notReady = await call(server.port, { ca, method: 'GET', path: '/readyz' });
  t.same([notReady.status, notReady.body], [503, 'not ready: the webhook configuration does not trust this certificate yet\n']);
  setReady(true);
  t.equal((await call(server.port, { ca, method: 'GET', path: '/readyz' })).status, 200);
  t.equal((await call(server.port, { ca, method: 'POST', path: '/readyz', body: '{}' })).status, 405);
});

void t.test('new credentials serve new connections', async (t) => {
  const { server, creds } = await start(t);
  const next = await createSelfManagedCredentials([SVC], systemClock);
  server.setCredentials(next);
  t.equal((await call(server.port, { ca: next.caPem!, body: '{}' })).status, 200, 'the new CA verifies');
  await t.rejects(call(server.port, { ca: creds.caPem!, body: '{}' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'the old CA no longer does');
});

void t.test('a client that never finishes its request is cut off after the request timeout', async (t) => {
  const { server, creds } = await start(t, () => ANSWER, 1024, 300);
  const started = Date.now();
  const { reply, ms } = await new Promise<{ reply: string; ms: number }>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: server.port, servername: SVC, ca: creds.caPem! }, () => {
      sock.write('POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
    });
    let reply = '';
    sock.on('data', (c: Buffer) => (reply += c.toString()));
    sock.on('error', reject);
    sock.on('close', () => resolve({ reply, ms: Date.now() - started }));
  });
  t.match(reply, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
  t.ok(ms < 2_500, `closed after ${ms} ms`);
});
