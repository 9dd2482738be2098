/**
 * Egress pins the server's identity: the host controls DNS and routing, so it can hand an egress connection meant
 * for `db` to another meshed workload. Over loopback: two server sidecars with real mesh leaves (`db` and `cache`)
 * and one egress sidecar whose entries come from the `--egress` grammar. An entry whose connection reaches `cache`
 * while it expects db's identity (default from the remote name, a DNS 4th field, a SPIFFE ID, an `--egress-san`
 * pin) is refused and counted `server-san-mismatch`, and cache's app sees nothing; the same entries reaching `db`
 * are admitted; only `*` admits any mesh leaf. On loopback the name that resolves to a server is `localhost`, so
 * db's leaf carries `localhost` in the role of its Service name.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { createLogger } from '../../lib/log.js';
import { systemClock } from '../../lib/clock.js';
import { parseEgressSpec, type EgressIdentity } from '../../lib/mesh-config/egress.js';
import { startProxy, type RunningProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp, testConfig, testLogger } from './support.js';

const EGRESS_IP = '127.0.0.8';
const HELLO_HASH = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5\n';

/** Sends `hello` through an egress listener and half-closes; what came back ('' when refused). */
async function attempt(port: number): Promise<string> {
  const s = connect({ host: EGRESS_IP, port, allowHalfOpen: true });
  s.once('connect', () => s.end('hello'));
  return readAll(s).then((b) => b.toString(), () => '');
}

void t.test('egress refuses a real mesh leaf of another workload and admits the expected one', async (t) => {
  const mesh = await TestMesh.create();
  const db = await mesh.leaf(['db', 'db.shop', 'db.shop.svc', 'db.shop.svc.cluster.local', 'localhost'], { workload: 'db' });
  const cache = await mesh.leaf(['cache', 'cache.shop', 'cache.shop.svc', 'cache.shop.svc.cluster.local'], { workload: 'cache' });
  const web = await mesh.leaf(['web', 'web.shop.svc'], { workload: 'web' });
  const dirs = [db, cache, web].map((l) => writeTlsDir(l.files));
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dbApp = new TestApp();
  const cacheApp = new TestApp();
  const [dbAppPort, cacheAppPort] = await Promise.all([dbApp.listen(), cacheApp.listen()]);
  const server = (dir: string, appPort: number): Promise<RunningProxy> => startProxy(testConfig({
    tlsDir: dir,
    inbound: [{ name: 'app', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock: systemClock, logger: testLogger });
  const dbSidecar = await server(dirs[0]!, dbAppPort);
  const cacheSidecar = await server(dirs[1]!, cacheAppPort);
  const dbPort = dbSidecar.ports.get('app')!;
  const cachePort = cacheSidecar.ports.get('app')!;

  // `*-hijacked` entries are what the host makes of db's connection: it reaches cache's sidecar instead.
  const spec = [
    `db-default#${EGRESS_IP}:1#localhost:${dbPort}`,
    `db-default-hijacked#${EGRESS_IP}:2#localhost:${cachePort}`,
    `db-dns#${EGRESS_IP}:3#127.0.0.1:${dbPort}#db.shop.svc`,
    `db-dns-hijacked#${EGRESS_IP}:4#127.0.0.1:${cachePort}#db.shop.svc`,
    `db-spiffe#${EGRESS_IP}:5#127.0.0.1:${dbPort}#spiffe://ccmesh.local/db`,
    `db-spiffe-hijacked#${EGRESS_IP}:6#127.0.0.1:${cachePort}#spiffe://ccmesh.local/db`,
    `db-pin-hijacked#${EGRESS_IP}:7#127.0.0.1:${cachePort}`,
    `any#${EGRESS_IP}:8#127.0.0.1:${cachePort}#*`,
  ].join('##');
  const pins = new Map<string, EgressIdentity>([['db-pin-hijacked', { kind: 'dns', value: 'db.shop.svc' }]]);
  const parsed = parseEgressSpec(spec, '--egress', { pins, pinFlag: '--egress-san' });
  t.same(parsed.issues, [], 'the spec parses');
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'proxy-test', level: 'info', sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const client = await startProxy(testConfig({
    tlsDir: dirs[2]!,
    egress: parsed.entries.map((e) => ({ ...e, listen: { host: EGRESS_IP, port: 0 } })),
  }), { clock: systemClock, logger });
  t.teardown(async () => {
    await Promise.all([client.drain(), dbSidecar.drain(), cacheSidecar.drain()]);
    await Promise.all([dbApp.close(), cacheApp.close()]);
  });
  const via = async (name: string): Promise<string> => attempt(client.ports.get(name)!);

  t.equal(await via('db-default'), HELLO_HASH, 'default identity (the remote name) → db: admitted');
  t.equal(await via('db-default-hijacked'), '', "default identity → cache's real mesh leaf: refused");
  t.equal(cacheApp.connections, 0, "cache's app saw nothing");
  t.equal(await via('db-dns'), HELLO_HASH, 'DNS identity → db: admitted');
  t.equal(await via('db-spiffe'), HELLO_HASH, 'SPIFFE identity → db: admitted');
  t.equal(dbApp.connections, 3, "db's app saw the three admitted connections");

  t.equal(await via('db-dns-hijacked'), '', "DNS identity → cache's real mesh leaf: refused");
  t.equal(await via('db-spiffe-hijacked'), '', "SPIFFE identity → cache's real mesh leaf: refused");
  t.equal(await via('db-pin-hijacked'), '', "--egress-san pin → cache's real mesh leaf: refused");
  t.equal(cacheApp.connections, 0, "cache's app saw none of them");
  const failures = (await client.metrics.handshakeFailures.get()).values.filter((v) => v.labels.direction === 'outbound' && v.value > 0);
  t.same(failures.map((v) => [v.labels.reason, v.value]), [['server-san-mismatch', 4]], 'each refusal counted as server-san-mismatch, nothing else');

  t.equal(await via('any'), HELLO_HASH, '* (explicit opt-in) → any mesh leaf: admitted');
  t.equal(cacheApp.connections, 1);

  const started = logs.filter((l) => l.msg === 'egress listener started').map((l) => [l.name, l.identity, l.identitySource]);
  t.same(started, [
    ['db-default', 'DNS:localhost', 'remote'],
    ['db-default-hijacked', 'DNS:localhost', 'remote'],
    ['db-dns', 'DNS:db.shop.svc', 'field'],
    ['db-dns-hijacked', 'DNS:db.shop.svc', 'field'],
    ['db-spiffe', 'URI:spiffe://ccmesh.local/db', 'field'],
    ['db-spiffe-hijacked', 'URI:spiffe://ccmesh.local/db', 'field'],
    ['db-pin-hijacked', 'DNS:db.shop.svc', 'pin'],
    ['any', '* (any mesh identity)', 'field'],
  ], 'the chosen identity of every listener is logged at startup');
});
