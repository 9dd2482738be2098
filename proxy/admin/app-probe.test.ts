/**
 * App probes on the sidecar's admin port, against a real app on loopback: the pinned check decides 200 or 503, the
 * answer carries nothing from the app, and nothing of the kubelet's (the host's) request reaches the app or makes the
 * sidecar dial anything else. Plus the `--app-probe` flag: parsed strictly, never on one of the sidecar's own ports.
 */
import { createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import t from 'tap';
import type tap from 'tap';
import { Registry } from 'prom-client';
import { ConfigError } from '../../lib/errors.js';
import { parseAppProbe, renderAppProbe, type AppProbe } from '../../lib/mesh-config/app-probe.js';
import { parseProxyFlags } from '../test/support.js';
import { createProxyMetrics } from '../metrics.js';
import { APP_PROBE_ANSWERS, APP_PROBE_RESULTS } from './app-probe.js';
import { startAdminServer, type RunningAdmin } from './server.js';

interface Seen {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A loopback app whose answer the test sets; it records every request and connection. */
async function app(t: Pick<typeof tap, 'teardown'>): Promise<{ port: number; seen: Seen[]; connections: () => number; answer: (status: number | 'hang') => void; server: Server }> {
  const seen: Seen[] = [];
  let status: number | 'hang' = 200;
  let connections = 0;
  const server = createHttpServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (status === 'hang') return; // never answers
    res.writeHead(status, { 'x-app-secret': 'header-from-app', location: '/elsewhere' });
    res.end('body-from-app');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { port: (server.address() as AddressInfo).port, seen, connections: () => connections, answer: (s) => { status = s; }, server };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s: NetServer = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function httpProbe(container: string, kind: AppProbe['kind'], port: number, path = '/healthz', timeoutSeconds = 1): AppProbe {
  return { container, kind, check: { type: 'http', port, path, scheme: 'HTTP', headers: [{ name: 'X-Probe', value: 'pinned' }] }, timeoutSeconds };
}

async function admin(t: Pick<typeof tap, 'teardown'>, probes: readonly AppProbe[]): Promise<RunningAdmin> {
  const a = await startAdminServer('127.0.0.1', 0, { notReadyReason: () => undefined }, new Registry(), probes);
  t.teardown(() => a.close());
  return a;
}

/** A raw GET to the admin server (the path is sent exactly as given), with extra headers. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

void t.test('an http app probe mirrors the app: 2xx/3xx → 200, else 503, nothing of the app relayed', async (t) => {
  const a = await app(t);
  const adm = await admin(t, [httpProbe('web', 'liveness', a.port, '/healthz?deep=1')]);
  for (const [status, want] of [[200, 200], [204, 200], [302, 200], [404, 503], [500, 503], [503, 503]] as const) {
    a.answer(status);
    const r = await get(adm.port, '/app-health/web/liveness');
    t.equal(r.status, want, `app ${status} → ${want}`);
    t.notMatch(r.body, /from-app|elsewhere/, 'no byte of the app\'s body or headers in the answer');
    t.equal(r.headers['x-app-secret'], undefined, 'the app\'s headers are not relayed');
    t.equal(r.headers.location, undefined, 'nor its redirect target');
    t.equal(r.body, `${(want === 200 ? APP_PROBE_ANSWERS.ok : APP_PROBE_ANSWERS.status).body}\n`, 'a fixed answer');
  }
  t.equal(a.seen.length, 6, 'one GET per probe');
  t.ok(a.seen.every((s) => s.url === '/healthz?deep=1'), 'the pinned path and query, exactly');
  t.ok(a.seen.every((s) => s.headers['x-probe'] === 'pinned'), 'the pinned header');
});

void t.test('app down → 503; app too slow → 503 after the probe timeout', { timeout: 20_000 }, async (t) => {
  const down = await closedPort();
  const a = await app(t);
  a.answer('hang');
  const adm = await admin(t, [httpProbe('web', 'readiness', down), httpProbe('web', 'liveness', a.port), { container: 'web', kind: 'startup', check: { type: 'tcp', port: down }, timeoutSeconds: 1 }]);
  const r1 = await get(adm.port, '/app-health/web/readiness');
  t.equal(r1.status, 503);
  t.equal(r1.body, `${APP_PROBE_ANSWERS.unreachable.body}\n`);
  const started = Date.now();
  const r2 = await get(adm.port, '/app-health/web/liveness');
  t.equal(r2.status, 503);
  t.equal(r2.body, `${APP_PROBE_ANSWERS.timeout.body}\n`);
  t.ok(Date.now() - started >= 900, 'answered once the 1 s timeout ran out');
  t.equal(a.seen.length, 1, 'the app got the GET');
  const r3 = await get(adm.port, '/app-health/web/startup');
  t.equal(r3.status, 503, 'a tcp probe on a closed port fails');
});

void t.test('a tcp app probe passes when the app accepts the connection', async (t) => {
  const a = await app(t);
  const adm = await admin(t, [{ container: 'shipper', kind: 'startup', check: { type: 'tcp', port: a.port }, timeoutSeconds: 1 }]);
  const r = await get(adm.port, '/app-health/shipper/startup');
  t.equal(r.status, 200);
  t.equal(a.seen.length, 0, 'a connect only, no request');
  t.equal(a.connections(), 1);
});

void t.test('attack: the host can only pick among the configured probes', async (t) => {
  const a = await app(t);
  const other = await app(t);
  const adm = await admin(t, [httpProbe('web', 'liveness', a.port)]);
  const tries = [
    '/app-health/web/readiness', // not configured
    '/app-health/web/liveness/', // not the exact path
    '/app-health/web/liveness/../readiness',
    '/app-health/web%2Fliveness',
    '/app-health/WEB/liveness',
    `/app-health/web/liveness:${other.port}`,
    `/app-health/other/${other.port}`,
    '/app-health/',
    '//app-health/web/liveness',
  ];
  for (const path of tries) t.equal((await get(adm.port, path)).status, 404, `${path} → 404`);
  t.equal(a.seen.length, 0, 'none of them reached the app');
  // The configured path with the host's own query, path suffix in the query, Host and extra headers: only the pinned
  // request is made.
  const r = await get(adm.port, `/app-health/web/liveness?port=${other.port}&path=/admin`, { host: `127.0.0.1:${other.port}`, 'x-forwarded-path': '/admin', 'x-probe': 'host-chosen' });
  t.equal(r.status, 200);
  t.same(a.seen.map((s) => s.url), ['/healthz'], 'the pinned path, without the host\'s query');
  t.equal(a.seen[0]?.headers['x-probe'], 'pinned', 'the pinned header, not the host\'s');
  t.equal(a.seen[0]?.headers['x-forwarded-path'], undefined, 'no header of the host\'s request');
  t.equal(other.connections(), 0, 'the other port was never dialled');
  const post = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: adm.port, path: '/app-health/web/liveness', method: 'POST', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('x');
  });
  t.equal(post, 405, 'GET only');
  t.equal(a.seen.length, 1, 'the POST did not reach the app');
});

void t.test('attack: a flood of calls opens one connection to the app per probe at a time', { timeout: 20_000 }, async (t) => {
  const a = await app(t);
  a.answer('hang');
  const adm = await admin(t, [httpProbe('web', 'liveness', a.port)]);
  const answers = await Promise.all(Array.from({ length: 30 }, () => get(adm.port, '/app-health/web/liveness')));
  t.ok(answers.every((r) => r.status === 503), 'all time out');
  t.equal(a.connections(), 1, 'one connection for 30 concurrent calls');
  t.equal(a.seen.length, 1, 'one GET');
  a.answer(200);
  t.equal((await get(adm.port, '/app-health/web/liveness')).status, 200, 'the next call runs a fresh check');
});

void t.test('ccmesh_proxy_app_probe_total: each check counted by the pinned container, kind and result; a request adds no series', { timeout: 20_000 }, async (t) => {
  const a = await app(t);
  const down = await closedPort();
  const registry = new Registry();
  const metrics = createProxyMetrics(registry);
  const probes: AppProbe[] = [httpProbe('web', 'liveness', a.port), { container: 'db', kind: 'startup', check: { type: 'tcp', port: down }, timeoutSeconds: 1 }];
  const adm = await startAdminServer('127.0.0.1', 0, { notReadyReason: () => undefined }, registry, probes, undefined, metrics.appProbes);
  t.teardown(() => adm.close());
  const count = async (container: string, kind: string, result: string): Promise<number | undefined> =>
    (await metrics.appProbes.get()).values.find((v) => v.labels.container === container && v.labels.kind === kind && v.labels.result === result)?.value;
  t.equal(await count('web', 'liveness', 'ok'), 0, 'every series of a configured probe exists from startup');
  await get(adm.port, '/app-health/web/liveness');
  a.answer(500);
  await get(adm.port, '/app-health/web/liveness');
  await get(adm.port, '/app-health/web/liveness');
  await get(adm.port, '/app-health/db/startup');
  t.same([await count('web', 'liveness', 'ok'), await count('web', 'liveness', 'status'), await count('web', 'liveness', 'unreachable'), await count('db', 'startup', 'unreachable')], [1, 2, 0, 1]);
  a.answer('hang');
  await Promise.all(Array.from({ length: 10 }, () => get(adm.port, '/app-health/web/liveness')));
  t.equal(await count('web', 'liveness', 'timeout'), 1, 'ten concurrent calls shared one check: counted once');
  // The host names containers and kinds of its own: 404, and no series for them.
  for (const path of ['/app-health/evil/liveness', '/app-health/web/readiness', `/app-health/web/liveness/${'x'.repeat(50)}`]) t.equal((await get(adm.port, path)).status, 404);
  const series = (await metrics.appProbes.get()).values.map((v) => `${v.labels.container}/${v.labels.kind}/${v.labels.result}`);
  t.same(series.sort(), probes.flatMap((p) => APP_PROBE_RESULTS.map((r) => `${p.container}/${p.kind}/${r}`)).sort(), 'only the configured probes\' series');
  t.match((await get(adm.port, '/metrics')).body, /ccmesh_proxy_app_probe_total\{container="web",kind="liveness",result="status"\} 2/, 'scraped on the admin port');
});

void t.test('--app-probe: parsed strictly, rendered in one order, never on the sidecar\'s own ports', (t) => {
  const web = httpProbe('web', 'liveness', 8081, '/healthz');
  const text = renderAppProbe(web);
  t.equal(text, '{"container":"web","kind":"liveness","type":"http","port":8081,"path":"/healthz","scheme":"HTTP","headers":[{"name":"X-Probe","value":"pinned"}],"timeoutSeconds":1}');
  t.same(parseAppProbe(text), web, 'round trip');
  const tcp = renderAppProbe({ container: 'db', kind: 'startup', check: { type: 'tcp', port: 5432 }, timeoutSeconds: 3 });
  t.same(parseProxyFlags(['--app-probe', text, '--app-probe', tcp]).appProbes.map((p) => [p.container, p.kind, p.check.port]), [['web', 'liveness', 8081], ['db', 'startup', 5432]]);
  const bad = (mutate: (o: Record<string, unknown>) => void): string => {
    const o = JSON.parse(text) as Record<string, unknown>;
    mutate(o);
    return JSON.stringify(o);
  };
  const refused: [string, string, RegExp][] = [
    ['not JSON', 'web/liveness', /--app-probe: got "web\/liveness", expected a JSON object/],
    ['an unknown key', bad((o) => { o.host = '10.0.0.1'; }), /expected a JSON object/],
    ['a path with a space', bad((o) => { o.path = '/a b'; }), /expected a JSON object/],
    ['a relative path', bad((o) => { o.path = 'healthz'; }), /expected a JSON object/],
    ['a header with CRLF', bad((o) => { o.headers = [{ name: 'X', value: 'a\r\nHost: evil' }]; }), /expected a JSON object/],
    ['a bad container name', bad((o) => { o.container = '../web'; }), /expected a JSON object/],
    ['an unknown kind', bad((o) => { o.kind = 'grpc'; }), /expected a JSON object/],
    ['port 0', bad((o) => { o.port = 0; }), /expected a JSON object/],
    ['a timeout of 0', bad((o) => { o.timeoutSeconds = 0; }), /expected a JSON object/],
    ['the inbound mTLS listener', bad((o) => { o.port = 15006; }), /a port other than 15006 \(one of the sidecar's own/],
    ['the admin port', bad((o) => { o.port = 15020; }), /a port other than 15020/],
    ['a loopback egress listener', bad((o) => { o.port = 8000; }), /a port other than 8000/],
    ['a second probe of the same container and kind', text, /one probe per container and kind \(web\/liveness twice\)/],
  ];
  for (const [name, value, message] of refused) {
    const argv = ['--egress', 'api#127.0.0.1:8000#api.default.svc:443', '--app-probe', value, ...(name.startsWith('a second') ? ['--app-probe', text] : [])];
    const err = t.throws(() => parseProxyFlags(argv), name) as unknown;
    t.ok(err instanceof ConfigError, `${name}: a config error`);
    t.match((err as Error).message, message, name);
  }
  t.end();
});
