import t from 'tap';
import type tap from 'tap';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { FixedClock } from '../../lib/clock.js';
import { ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { readSample } from '../../test/fixtures.js';
import { CachingCollateralSource, type CollateralCacheConfig, defaultCollateralCacheSettings } from './caching-collateral-source.js';
import type { CollateralSource } from './collateral-source.js';
import { DisabledCollateralSource } from './disabled-collateral-source.js';
import { FakeCollateralServer, type FakeReply, type FakeRoute } from '../../test/support/attestation/fake-collateral-server.js';
import { buildHttpCollateralConfig, HttpCollateralSource } from './http-collateral-source.js';

const DAY = 24 * 60 * 60 * 1000;
const CHIP_ID = Uint8Array.from({ length: 64 }, (_, i) => 0xa0 ^ i);
const TCB = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
const VCEK = readSample('snp/gsg-milan-v2.vcek.der');
const CHAIN = Buffer.from(readSample('snp/ask_ark_milan.pem')).toString('latin1');
const TCB_INFO = Buffer.from(readSample('tdx/collateral/tcbinfo-tdx-fmspc50806f000000-2023-06-18.json')).toString('utf8');
const PCK_CRL = readSample('tdx/collateral/pck_platform_ca.crl.der'); // nextUpdate 2023-07-08T07:27:52Z
const ROOT_CRL = readSample('tdx/collateral/intel_sgx_root_ca.crl.der');
const ISSUER_CHAIN = Buffer.from(readSample('tdx/collateral/intel_sgx_tcb_signing.pem')).toString('latin1');
const TCB_NEXT_UPDATE = Date.parse('2023-07-18T08:42:58Z');
const START = Date.parse('2023-06-20T00:00:00Z');

/** Serves the real samples; `override` can replace any answer. */
function kds(override?: (path: string, index: number) => FakeReply | undefined): FakeRoute {
  return (path, index) => {
    const o = override?.(path, index);
    if (o) return o;
    const chain = { 'TCB-Info-Issuer-Chain': encodeURIComponent(ISSUER_CHAIN), 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(ISSUER_CHAIN) };
    if (path.includes('/vcek/v1/Milan/cert_chain')) return { body: CHAIN };
    if (path.includes('/vcek/v1/')) return { body: VCEK };
    if (path.includes('/tcb?')) return { body: TCB_INFO, headers: chain };
    if (path.includes('/pckcrl')) return { body: PCK_CRL, headers: chain };
    if (path.includes('IntelSGXRootCA')) return { body: ROOT_CRL };
    return { status: 404 };
  };
}

interface Stack {
  readonly server: FakeCollateralServer;
  readonly dir: string;
  readonly clock: FixedClock;
  readonly http: HttpCollateralSource;
  readonly logs: string[];
  /** A caching source over the shared HTTP source and directory (several can coexist, like processes). */
  cache(overrides?: Partial<CollateralCacheConfig>, inner?: CollateralSource): CachingCollateralSource;
  metrics(): Promise<string>;
}

async function stack(t: Pick<typeof tap, 'teardown'>, route: FakeRoute): Promise<Stack> {
  const server = await FakeCollateralServer.start(route);
  const agent = new Agent({ keepAliveTimeout: 100 });
  const base = await mkdtemp(join(tmpdir(), 'ccmesh-fetch-'));
  t.teardown(async () => {
    await agent.close();
    await server.close();
    await rm(base, { recursive: true, force: true });
  });
  const dir = join(base, 'cache');
  const clock = new FixedClock(START);
  const registry = createRegistry();
  const logs: string[] = [];
  const logger = createLogger({ component: 'test', level: 'warn', sink: (l) => logs.push(l) });
  const http = new HttpCollateralSource(
    buildHttpCollateralConfig({ maxAttempts: 1, endpoints: { amdKds: server.url, intelPcs: server.url, intelCertificates: server.url } }),
    { registry, dispatcher: agent, clock, logger },
  );
  return {
    server,
    dir,
    clock,
    http,
    logs,
    cache: (overrides = {}, inner = http) =>
      new CachingCollateralSource(inner, { ...defaultCollateralCacheSettings, dir, ...overrides }, { clock, logger, registry }),
    metrics: () => registry.metrics(),
  };
}

async function entryFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.entry')).sort();
}

void t.test('a cache hit avoids the second request, also from another instance on the same directory', async (t) => {
  const s = await stack(t, kds());
  const first = await s.cache().amdVek('milan', CHIP_ID, TCB);
  t.same([...first], [...VCEK]);
  const again = await s.cache().amdVek('milan', CHIP_ID, TCB);
  t.same([...again], [...VCEK]);
  t.equal(s.server.hits, 1);
  const chain = s.cache();
  t.equal(await chain.amdChain('milan', 'vcek'), CHAIN);
  t.equal(await chain.amdChain('milan', 'vcek'), CHAIN);
  const tcb = await chain.intelTdxTcbInfo('50806F000000');
  t.same(await chain.intelTdxTcbInfo('50806f000000'), tcb, 'FMSPC case does not matter');
  t.same(tcb, { body: TCB_INFO, issuerChain: ISSUER_CHAIN });
  const crl = await chain.intelPckCrl('platform');
  t.same(await s.cache().intelPckCrl('platform'), crl);
  t.equal(crl.issuerChain, ISSUER_CHAIN);
  t.equal(s.server.hits, 4);
  t.equal((await entryFiles(s.dir)).length, 4);
  const m = await s.metrics();
  t.match(m, /ccmesh_attest_collateral_cache_lookups_total\{kind="amd-vek",result="hit"\} 1/);
  t.match(m, /ccmesh_attest_collateral_cache_lookups_total\{kind="amd-vek",result="miss"\} 1/);
});

void t.test('files are 0600 in a 0700 directory; a looser existing directory is tightened', async (t) => {
  const s = await stack(t, kds());
  await mkdir(s.dir, { mode: 0o755 });
  await chmod(s.dir, 0o755);
  await s.cache().intelRootCrl();
  t.equal((await stat(s.dir)).mode & 0o777, 0o700);
  const files = await readdir(s.dir);
  t.equal(files.length, 1, 'no temporary file left behind');
  t.match(files[0], /^intel-root-crl-[0-9a-f]{64}\.entry$/);
  t.equal((await stat(join(s.dir, files[0]!))).mode & 0o777, 0o600);
});

void t.test('certificates stay fresh for 30 days, then are refetched', async (t) => {
  const s = await stack(t, kds());
  const c = s.cache();
  await c.amdVek('milan', CHIP_ID, TCB);
  s.clock.advance(30 * DAY - 1);
  await c.amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, 1);
  s.clock.advance(1);
  await c.amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, 2, 'stale after the TTL');
  await c.amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, 2, 'the refetched entry is fresh again');
});

void t.test('documents stay fresh until their nextUpdate; without one, for the document TTL', async (t) => {
  const noNextUpdate = '{"tcbInfo":{"id":"TDX","version":3,"fmspc":"00906ed50000"},"signature":"00"}';
  const s = await stack(
    t,
    kds((path) => (path.includes('fmspc=00906ed50000') ? { body: noNextUpdate, headers: { 'TCB-Info-Issuer-Chain': encodeURIComponent(ISSUER_CHAIN) } } : undefined)),
  );
  const c = s.cache();
  await c.intelTdxTcbInfo('50806f000000');
  await c.intelTdxTcbInfo('00906ed50000');
  s.clock.advance(DAY - 1);
  await c.intelTdxTcbInfo('50806f000000');
  await c.intelTdxTcbInfo('00906ed50000');
  t.equal(s.server.hits, 2);
  s.clock.advance(1);
  await c.intelTdxTcbInfo('00906ed50000');
  t.equal(s.server.hits, 3, 'TTL applies without a nextUpdate');
  s.clock.advance(TCB_NEXT_UPDATE - s.clock.nowMs() - 1);
  await c.intelTdxTcbInfo('50806f000000');
  t.equal(s.server.hits, 3, 'fresh just before nextUpdate');
  s.clock.advance(1);
  await c.intelTdxTcbInfo('50806f000000');
  t.equal(s.server.hits, 4, 'refetched at nextUpdate');
});

void t.test('a CRL fetched after its nextUpdate is never served from cache', async (t) => {
  const s = await stack(t, kds());
  s.clock.advance(Date.parse('2023-08-01T00:00:00Z') - START); // past the PCK CRL's nextUpdate
  const c = s.cache();
  await c.intelPckCrl('platform');
  await c.intelPckCrl('platform');
  t.equal(s.server.hits, 2);
});

void t.test('corrupt, truncated or foreign cache files are ignored and replaced', async (t) => {
  const s = await stack(t, kds());
  await s.cache().amdVek('milan', CHIP_ID, TCB);
  const [name] = await entryFiles(s.dir);
  const path = join(s.dir, name!);
  const good = await readFile(path);
  const damaged = [
    good.subarray(0, good.length - 10), // torn write
    Buffer.from(good).fill(0x41, good.length - 5), // bit rot in the body
    Buffer.from('garbage'),
    Buffer.alloc(0),
  ];
  let hits = 1;
  for (const bytes of damaged) {
    await writeFile(path, bytes);
    const der = await s.cache().amdVek('milan', CHIP_ID, TCB);
    t.same([...der], [...VCEK]);
    t.equal(s.server.hits, ++hits, 'refetched');
    t.same(await readFile(path), good, 'rewritten');
  }
  // The entry of another request copied over this one's name is not believed either.
  await s.cache().amdVek('genoa', CHIP_ID, TCB);
  const other = (await entryFiles(s.dir)).find((f) => f !== name)!;
  await writeFile(path, await readFile(join(s.dir, other)));
  await s.cache().amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, hits + 2);
  t.match(await s.metrics(), /kind="amd-vek",result="corrupt"\} 5/);
  t.ok(s.logs.some((l) => /collateral cache entry ignored/.test(l)));
});

void t.test('concurrent identical requests are coalesced into one fetch', async (t) => {
  const s = await stack(t, kds((path) => (path.includes('/vcek/v1/Milan/') ? { body: VCEK, delayMs: 50 } : undefined)));
  const c = s.cache();
  const results = await Promise.all([
    c.amdVek('milan', CHIP_ID, TCB),
    c.amdVek('milan', CHIP_ID, TCB),
    c.amdVek('milan', CHIP_ID, TCB),
    c.amdVek('milan', CHIP_ID, { ...TCB }),
    c.amdVek('milan', CHIP_ID, { ...TCB, microcode: 116 }), // a different request
  ]);
  t.equal(s.server.hits, 2);
  results[0]![0] = 0; // each caller owns its copy
  t.equal(results[1]![0], VCEK[0]);
  // Turin: the 64-byte chip id and its first 8 bytes are the same request.
  const turinTcb = { ...TCB, fmc: 1 };
  await Promise.all([c.amdVek('turin', CHIP_ID, turinTcb), c.amdVek('turin', CHIP_ID.subarray(0, 8), turinTcb)]);
  await c.amdVek('turin', CHIP_ID.subarray(0, 8), turinTcb);
  t.equal(s.server.hits, 3);
});

void t.test('a failed refetch serves the stale certificate, unless configured not to', async (t) => {
  let down = false;
  const s = await stack(t, kds(() => (down ? { status: 503 } : undefined)));
  await s.cache().amdChain('milan', 'vcek');
  await s.cache().intelPckCrl('platform');
  s.clock.advance(40 * DAY);
  down = true;
  t.equal(await s.cache().amdChain('milan', 'vcek'), CHAIN);
  t.ok(s.logs.some((l) => /serving stale cache entry/.test(l)));
  await t.rejects(s.cache({ serveStaleOnError: false }).amdChain('milan', 'vcek'), { code: ErrorCode.ATTEST_FETCH, message: /HTTP 503/ });
  // An expired CRL is no use to the verifier: the fetch error is the answer.
  await t.rejects(s.cache().intelPckCrl('platform'), { code: ErrorCode.ATTEST_FETCH });
  t.match(await s.metrics(), /kind="amd-chain",result="stale_on_error"\} 1/);
});

void t.test('a response that is not collateral is returned but not cached', async (t) => {
  const s = await stack(t, kds(() => ({ body: '<html>captive portal</html>' })));
  const c = s.cache();
  t.equal(Buffer.from(await c.amdVek('milan', CHIP_ID, TCB)).toString(), '<html>captive portal</html>');
  await c.amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, 2);
  t.same(await entryFiles(s.dir), []);
});

void t.test('over the disabled source the cache works offline', async (t) => {
  const s = await stack(t, kds());
  await s.cache().amdVek('milan', CHIP_ID, TCB);
  const offline = s.cache({}, new DisabledCollateralSource());
  t.same([...(await offline.amdVek('milan', CHIP_ID, TCB))], [...VCEK]);
  await t.rejects(offline.amdCrl('milan'), { code: ErrorCode.ATTEST_FETCH_DISABLED });
  t.equal(s.server.hits, 1);
});

void t.test('an unusable cache directory degrades to fetching', async (t) => {
  const s = await stack(t, kds());
  await mkdir(join(s.dir, '..'), { recursive: true });
  await writeFile(s.dir, 'not a directory');
  t.same([...(await s.cache().amdVek('milan', CHIP_ID, TCB))], [...VCEK]);
  t.ok(s.logs.some((l) => /collateral cache (unreadable|write failed)/.test(l)));
});

const notRoot = typeof process.getuid !== 'function' || process.getuid() !== 0;
void t.test('a cache directory owned by another user is not used', { skip: notRoot ? 'needs root to chown the directory' : false }, async (t) => {
  const s = await stack(t, kds());
  await mkdir(s.dir, { mode: 0o700 });
  await chown(s.dir, 12345, 12345);
  await s.cache().amdVek('milan', CHIP_ID, TCB);
  await s.cache().amdVek('milan', CHIP_ID, TCB);
  t.equal(s.server.hits, 2, 'nothing cached');
  t.same(await readdir(s.dir), []);
  t.ok(s.logs.some((l) => /owned by uid 12345/.test(l)));
});
