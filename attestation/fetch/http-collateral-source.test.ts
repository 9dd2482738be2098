import t from 'tap';
import type tap from 'tap';
import { Agent } from 'undici';
import { FixedClock } from '../../lib/clock.js';
import { ConfigError, ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { FakeCollateralServer, type FakeReply, type FakeRoute } from '../../test/support/attestation/fake-collateral-server.js';
import { buildHttpCollateralConfig, type HttpCollateralOverrides, HttpCollateralSource } from './http-collateral-source.js';

const CHIP_ID = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
const CHIP_HEX = Buffer.from(CHIP_ID).toString('hex');
const TCB = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n';

interface Harness {
  readonly server: FakeCollateralServer;
  readonly source: HttpCollateralSource;
  readonly sleeps: number[];
  readonly logs: string[];
  metrics(): Promise<string>;
}

/** A source pointed at a fresh loopback server, with recorded sleeps; everything is closed at test end. */
async function harness(t: Pick<typeof tap, 'teardown'>, route: FakeRoute, overrides: HttpCollateralOverrides = {}): Promise<Harness> {
  const server = await FakeCollateralServer.start(route);
  const agent = new Agent({ keepAliveTimeout: 100, connect: { timeout: 1000 } });
  t.teardown(async () => {
    await agent.close();
    await server.close();
  });
  const registry = createRegistry();
  const sleeps: number[] = [];
  const logs: string[] = [];
  const config = buildHttpCollateralConfig({
    maxAttempts: 3,
    backoffBaseMs: 100,
    maxRetryDelayMs: 5000,
    ...overrides,
    endpoints: { amdKds: server.url, intelPcs: `${server.url}/pcs`, intelCertificates: `${server.url}/certs/` },
  });
  const source = new HttpCollateralSource(config, {
    registry,
    dispatcher: agent,
    clock: new FixedClock(Date.parse('2025-01-01T00:00:00Z')),
    logger: createLogger({ component: 'test', level: 'warn', sink: (l) => logs.push(l) }),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { server, source, sleeps, logs, metrics: () => registry.metrics() };
}

const ok: FakeRoute = () => ({ body: 'ok' });

void t.test('AMD KDS paths: Milan and Genoa use the 64-byte chip id, Turin 8 bytes plus fmcSPL first', async (t) => {
  const h = await harness(t, ok);
  await h.source.amdVek('milan', CHIP_ID, TCB);
  await h.source.amdVek('genoa', CHIP_ID, { ...TCB, fmc: 9 }); // fmc is not a Genoa component: ignored
  await h.source.amdVek('turin', CHIP_ID, { bootloader: 4, tee: 0, snp: 24, microcode: 219, fmc: 1 });
  await h.source.amdVek('turin', CHIP_ID.subarray(0, 8), { bootloader: 4, tee: 0, snp: 24, microcode: 219, fmc: 1 });
  await h.source.amdChain('milan', 'vcek');
  await h.source.amdChain('genoa', 'vlek');
  await h.source.amdCrl('turin');
  t.same(h.server.paths, [
    `/vcek/v1/Milan/${CHIP_HEX}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`,
    `/vcek/v1/Genoa/${CHIP_HEX}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`,
    `/vcek/v1/Turin/${CHIP_HEX.slice(0, 16)}?fmcSPL=01&blSPL=04&teeSPL=00&snpSPL=24&ucodeSPL=219`,
    `/vcek/v1/Turin/${CHIP_HEX.slice(0, 16)}?fmcSPL=01&blSPL=04&teeSPL=00&snpSPL=24&ucodeSPL=219`,
    '/vcek/v1/Milan/cert_chain',
    '/vlek/v1/Genoa/cert_chain',
    '/vcek/v1/Turin/crl',
  ]);
});

void t.test('Intel PCS paths and URL-decoded issuer-chain headers', async (t) => {
  const encoded = encodeURIComponent(PEM);
  const h = await harness(t, (path): FakeReply => {
    if (path.startsWith('/pcs/tdx/certification/v4/tcb')) return { body: '{"tcbInfo":{}}', headers: { 'TCB-Info-Issuer-Chain': encoded } };
    if (path.startsWith('/pcs/tdx/certification/v4/qe')) return { body: '{"enclaveIdentity":{}}', headers: { 'SGX-Enclave-Identity-Issuer-Chain': encoded } };
    if (path.startsWith('/pcs/sgx/certification/v4/pckcrl')) return { body: Buffer.from([0x30, 0x01, 0x02]), headers: { 'SGX-PCK-CRL-Issuer-Chain': encoded } };
    return { body: Buffer.from([0x30, 0x00]) };
  });
  const tcb = await h.source.intelTdxTcbInfo('50806F000000');
  t.same(tcb, { body: '{"tcbInfo":{}}', issuerChain: PEM });
  t.same(await h.source.intelQeIdentity(), { body: '{"enclaveIdentity":{}}', issuerChain: PEM });
  const crl = await h.source.intelPckCrl('processor');
  t.same([...crl.body], [0x30, 0x01, 0x02]);
  t.equal(crl.issuerChain, PEM);
  await h.source.intelPckCrl('platform');
  t.same([...(await h.source.intelRootCrl())], [0x30, 0x00]);
  t.same(h.server.paths, [
    '/pcs/tdx/certification/v4/tcb?fmspc=50806f000000',
    '/pcs/tdx/certification/v4/qe/identity',
    '/pcs/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
    '/pcs/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
    '/certs/IntelSGXRootCA.der',
  ]);
});

void t.test('a missing or undecodable issuer-chain header is a clear error', async (t) => {
  const h = await harness(t, (path) =>
    path.includes('/qe/') ? { body: '{}', headers: { 'SGX-Enclave-Identity-Issuer-Chain': '%E0%A4%A' } } : { body: '{}' },
  );
  await t.rejects(h.source.intelTdxTcbInfo('50806f000000'), { code: ErrorCode.ATTEST_FETCH, message: /lacks exactly one TCB-Info-Issuer-Chain header/ });
  await t.rejects(h.source.intelQeIdentity(), { code: ErrorCode.ATTEST_FETCH, message: /SGX-Enclave-Identity-Issuer-Chain header is not valid percent-encoding/ });
});

void t.test('retries 503 with backoff, then succeeds; metrics count every attempt', async (t) => {
  const h = await harness(t, (_path, i) => (i < 2 ? { status: 503, body: 'busy' } : { body: 'vcek' }));
  const der = await h.source.amdVek('milan', CHIP_ID, TCB);
  t.equal(Buffer.from(der).toString(), 'vcek');
  t.equal(h.server.hits, 3);
  t.equal(h.sleeps.length, 2);
  // Equal jitter: retry n waits between half and all of base * 2^(n-1).
  t.ok(h.sleeps[0]! >= 50 && h.sleeps[0]! <= 100, `first backoff ${h.sleeps[0]}`);
  t.ok(h.sleeps[1]! >= 100 && h.sleeps[1]! <= 200, `second backoff ${h.sleeps[1]}`);
  t.equal(h.logs.length, 2);
  t.match(JSON.parse(h.logs[0]!), { msg: 'collateral fetch retry', attempt: 1, reason: 'HTTP 503 Service Unavailable: busy' });
  const text = await h.metrics();
  t.match(text, /ccmesh_attest_collateral_fetch_total\{source="amd_kds",result="http_error"\} 2/);
  t.match(text, /ccmesh_attest_collateral_fetch_total\{source="amd_kds",result="ok"\} 1/);
  t.match(text, /ccmesh_attest_collateral_fetch_seconds_count\{source="amd_kds"\} 3/);
});

void t.test('Retry-After is honoured within the bound and ends retries beyond it', async (t) => {
  const h = await harness(t, (path, i) => {
    if (path.includes('Milan')) return i === 0 ? { status: 429, headers: { 'Retry-After': '2' } } : { body: 'x' };
    // An HTTP-date an hour after the harness clock: far beyond the 5 s bound.
    return { status: 429, headers: { 'Retry-After': 'Wed, 01 Jan 2025 01:00:00 GMT' } };
  });
  await h.source.amdVek('milan', CHIP_ID, TCB);
  t.same(h.sleeps, [2000]);
  await t.rejects(h.source.amdVek('genoa', CHIP_ID, TCB), {
    code: ErrorCode.ATTEST_FETCH,
    message: /failed after 1 attempt: HTTP 429 Too Many Requests; server asked to retry after 3600 s, longer than the 5 s/,
  });
  t.equal(h.server.hits, 3);
  t.match(await h.metrics(), /result="throttled"\} 2/);
});

void t.test('gives up after the attempt bound with an error naming the URL and status', async (t) => {
  const h = await harness(t, () => ({ status: 503, body: 'down\r\nfor maintenance\u0007' }));
  const err = await h.source.amdChain('milan', 'vcek').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, {
    code: ErrorCode.ATTEST_FETCH,
    message: `fetching the AMD Milan ASK+ARK chain from ${h.server.url}/vcek/v1/Milan/cert_chain failed after 3 attempts: HTTP 503 Service Unavailable: down for maintenance`,
  });
  t.equal(h.server.hits, 3);
  t.equal(h.sleeps.length, 2);
});

void t.test('client errors are not retried', async (t) => {
  const h = await harness(t, () => ({ status: 404, body: 'unknown chip' }));
  await t.rejects(h.source.amdVek('milan', CHIP_ID, TCB), { message: /failed after 1 attempt: HTTP 404 Not Found: unknown chip$/ });
  t.equal(h.server.hits, 1);
});

void t.test('redirects are not followed', async (t) => {
  const h = await harness(t, () => ({ status: 302, headers: { location: 'http://elsewhere.invalid/x' } }));
  await t.rejects(h.source.intelRootCrl(), { message: /HTTP 302 Found \(redirect to http:\/\/elsewhere.invalid\/x not followed\)/ });
  t.equal(h.server.hits, 1);
});

void t.test('an oversize body is refused, by Content-Length or while streaming, and not retried', async (t) => {
  const h = await harness(
    t,
    (path) => (path.includes('Milan') ? { body: Buffer.alloc(4097) } : { streamBytes: 8 * 1024 * 1024 }),
    { maxResponseBytes: 4096 },
  );
  await t.rejects(h.source.amdCrl('milan'), { code: ErrorCode.ATTEST_FETCH, message: /response of 4097 bytes \(Content-Length\) exceeds the 4096-byte limit/ });
  await t.rejects(h.source.amdCrl('genoa'), { code: ErrorCode.ATTEST_FETCH, message: /response body exceeds the 4096-byte limit/ });
  t.equal(h.server.hits, 2);
  t.match(await h.metrics(), /result="too_large"\} 2/);
});

void t.test('timeout: response headers that never come', async (t) => {
  // undici checks headers/body timeouts on a coarse (~0.5 s) timer, so the precise bound is the attempt deadline.
  const h = await harness(t, () => ({ hang: true }), { headersTimeoutMs: 150, attemptTimeoutMs: 5000, maxAttempts: 1 });
  const started = Date.now();
  await t.rejects(h.source.amdCrl('milan'), { code: ErrorCode.ATTEST_FETCH, message: /failed after 1 attempt: no response headers within 150 ms$/ });
  t.ok(Date.now() - started < 2000, 'bounded');
  t.match(await h.metrics(), /result="timeout"\} 1/);
});

void t.test('timeout: a body that drips past the attempt deadline is retried, then refused', async (t) => {
  const h = await harness(t, () => ({ dripMs: 20 }), { attemptTimeoutMs: 200, maxAttempts: 2 });
  const started = Date.now();
  await t.rejects(h.source.amdCrl('genoa'), { code: ErrorCode.ATTEST_FETCH, message: /failed after 2 attempts: no complete response within 200 ms$/ });
  t.ok(Date.now() - started < 2000, 'bounded');
  t.equal(h.server.hits, 2);
});

void t.test('connection failures are retried and reported', async (t) => {
  const h = await harness(t, ok);
  const deadUrl = h.server.url;
  await h.server.close();
  const config = buildHttpCollateralConfig({ maxAttempts: 2, endpoints: { amdKds: deadUrl } });
  const agent = new Agent();
  t.teardown(() => agent.close());
  const src = new HttpCollateralSource(config, { registry: createRegistry(), dispatcher: agent, sleep: async () => undefined });
  await t.rejects(src.amdCrl('milan'), { code: ErrorCode.ATTEST_FETCH, message: /failed after 2 attempts: request failed: ECONNREFUSED/ });
});

void t.test('an aborted signal stops fetching at once', async (t) => {
  const server = await FakeCollateralServer.start(ok);
  t.teardown(() => server.close());
  const ac = new AbortController();
  ac.abort();
  const src = new HttpCollateralSource(buildHttpCollateralConfig({ endpoints: { amdKds: server.url } }), { registry: createRegistry(), signal: ac.signal });
  t.teardown(() => src.close());
  await t.rejects(src.amdCrl('milan'), { code: ErrorCode.ATTEST_FETCH, message: /failed after 1 attempt: aborted/ });
  t.equal(server.hits, 0);
});

void t.test('without a dispatcher the source owns an agent and closes it', async (t) => {
  const server = await FakeCollateralServer.start(ok);
  t.teardown(() => server.close());
  const src = new HttpCollateralSource(buildHttpCollateralConfig({ endpoints: { amdKds: server.url } }), { registry: createRegistry() });
  t.equal(Buffer.from(await src.amdCrl('milan')).toString(), 'ok');
  await src.close();
  await src.close(); // idempotent
  // Two sources may share one registry: the metric families are reused, not registered twice.
  const registry = createRegistry();
  const a = new HttpCollateralSource(buildHttpCollateralConfig(), { registry });
  const b = new HttpCollateralSource(buildHttpCollateralConfig(), { registry });
  await a.close();
  await b.close();
});

void t.test('configuration errors are reported all at once', (t) => {
  let err: unknown;
  try {
    buildHttpCollateralConfig({ maxAttempts: 0, headersTimeoutMs: 1.5, endpoints: { amdKds: 'ftp://kds', intelPcs: 'https://pcs?x=1' } });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  t.same((err as ConfigError).issues.map((i) => i.field).sort(), ['endpoints.amdKds', 'endpoints.intelPcs', 'headersTimeoutMs', 'maxAttempts']);
  t.match((err as ConfigError).code, ErrorCode.CONFIG_INVALID);
  const d = buildHttpCollateralConfig();
  t.equal(d.endpoints.amdKds, 'https://kdsintf.amd.com');
  t.equal(d.endpoints.intelPcs, 'https://api.trustedservices.intel.com');
  t.ok(Object.isFrozen(d));
  t.end();
});
