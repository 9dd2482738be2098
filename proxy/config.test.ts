import t from 'tap';
import { ConfigError } from '../lib/errors.js';
import { parseProxyFlags } from './test/support.js';

void t.test('a full --no-iptables configuration', (t) => {
  const cfg = parseProxyFlags([
    '--no-iptables', '--ingress', 'web#8080#mtls:allow=api.default.svc##pub#8443#tls##metrics#9090#plain',
    '--inbound-port-map', '8080=15080,8443=15443,7000=15700',
    '--egress', 'api#127.0.0.2:80#api.default.svc:15080', '--egress-san', 'api=api.default.svc', '--idle-timeout', '5m',
  ]);
  t.same(cfg.inbound.map((l) => [l.name, l.appPort, l.listenPort, l.mode.kind]), [['web', 8080, 15080, 'mtls'], ['pub', 8443, 15443, 'tls'], ['port-7000', 7000, 15700, 'mtls']]);
  t.same(cfg.egress[0]?.identity, { kind: 'dns', value: 'api.default.svc' });
  t.equal(cfg.idleTimeoutMs, 300_000);
  t.equal(cfg.handshakeTimeoutMs, 5_000, 'a short default handshake timeout');
  t.equal(cfg.readyFile, '/ccmesh/ready');
  t.end();
});

void t.test('every problem at once', (t) => {
  const err = t.throws(() => parseProxyFlags([
    '--ingress', 'web#8080##db#5432#plain', '--inbound-port-map', '8080=x', '--egress-san', 'nope=a', '--workers', '0', '--admin-port', '0',
  ])) as unknown;
  t.ok(err instanceof ConfigError);
  const fields = (err as ConfigError).issues.map((i) => i.field);
  t.same(fields, ['--inbound-port-map', '--egress-san', '--workers', '--admin-port']);
  t.equal(parseProxyFlags(['--no-iptables', '--workers', '3']).workers, 3, '--workers > 1 with explicit listeners');
  t.match((t.throws(() => parseProxyFlags(['--no-iptables', '--workers', '65'])) as ConfigError).message, /--workers/, 'at most 64');
  t.equal(parseProxyFlags(['--workers', '2']).workers, 2, 'and with capture (the workers own the transparent listeners)');
  const err2 = t.throws(() => parseProxyFlags(['--no-iptables', '--ingress', 'web#8080##db#5432#plain', '--inbound-port-map', '5432=15432'])) as ConfigError;
  t.match(err2.message, /no plain port/);
  t.match(err2.message, /a listen port for ingress entry "web"/);
  t.end();
});

void t.test('capture mode: transparent listeners, capture-only flags refused with --no-iptables', (t) => {
  const cfg = parseProxyFlags(['--ingress', 'web#8080##pub#8443#tls', '--admin-port', '15021', '--ipv6', 'on']);
  t.equal(cfg.noIptables, false);
  t.same(cfg.transparent, { mtlsPort: 15006, tlsPort: 15007, entries: cfg.transparent?.entries, ownPorts: [15006, 15007, 15001, 15021] });
  t.same(cfg.transparent?.entries.map((e) => [e.port, e.mode.kind]), [[8080, 'mtls'], [8443, 'tls']]);
  t.same(cfg.inbound, [], 'no explicit listeners');
  t.equal(parseProxyFlags(['--no-iptables']).transparent, undefined);
  const err = t.throws(() => parseProxyFlags(['--no-iptables', '--ipv6', 'on', '--egress-capture', '10.0.0.0/8', '--watchdog-interval', '1s'])) as ConfigError;
  t.same(err.issues.map((i) => i.field), ['--egress-capture', '--ipv6', '--watchdog-interval']);
  t.end();
});

void t.test('--trust-refresh: default with --coordinator, off or at least 500ms, never without a Coordinator', (t) => {
  t.equal(parseProxyFlags(['--no-iptables', '--coordinator', 'coordinator:7777']).trustRefreshMs, 30_000, 'on by default every 30 s');
  t.equal(parseProxyFlags(['--no-iptables', '--coordinator', 'coordinator:7777', '--trust-refresh', '0']).trustRefreshMs, 0, '0 turns it off');
  t.equal(parseProxyFlags(['--no-iptables', '--coordinator', 'coordinator:7777', '--trust-refresh', '2s']).trustRefreshMs, 2000);
  t.match((t.throws(() => parseProxyFlags(['--no-iptables', '--trust-refresh', '5s'])) as ConfigError).message, /--trust-refresh.*only together with --coordinator/s);
  t.match((t.throws(() => parseProxyFlags(['--no-iptables', '--coordinator', 'c:7777', '--trust-refresh', '100ms'])) as ConfigError).message, /at least 500ms/);
  t.end();
});

void t.test('--egress identity: default from the remote name, --egress-san wins over it, conflicts and IP remotes are issues', (t) => {
  const ids = (argv: string[]): unknown => parseProxyFlags(['--no-iptables', ...argv]).egress.map((e) => [e.name, e.identity, e.identitySource]);
  t.same(ids(['--egress', 'db#127.0.0.2:5432#db.shop.svc:5432']), [['db', { kind: 'dns', value: 'db.shop.svc' }, 'remote']], 'pins the remote DNS name');
  t.same(ids(['--egress', 'db#127.0.0.2:5432#db.shop.svc:5432#spiffe://ccmesh.local/db']), [['db', { kind: 'uri', value: 'spiffe://ccmesh.local/db' }, 'field']]);
  t.same(ids(['--egress', 'db#127.0.0.2:5432#db.shop.svc:5432', '--egress-san', 'db=postgres.shop.svc']), [['db', { kind: 'dns', value: 'postgres.shop.svc' }, 'pin']], '--egress-san wins over the default');
  t.same(ids(['--egress', 'db#127.0.0.2:5432#10.0.0.5:5432', '--egress-san', 'db=10.0.0.5']), [['db', { kind: 'ip', value: '10.0.0.5' }, 'pin']], 'an IP remote with --egress-san');
  t.same(ids(['--egress', 'db#127.0.0.2:5432#10.0.0.5:5432#*']), [['db', { kind: 'any' }, 'field']], '* is the explicit "any mesh identity"');
  t.same(ids(['--egress', 'db#127.0.0.2:5432#10.0.0.5:5432', '--egress-san', 'db=*']), [['db', { kind: 'any' }, 'pin']], 'and works as a pin too');

  const ip = t.throws(() => parseProxyFlags(['--no-iptables', '--egress', 'db#127.0.0.2:5432#10.0.0.5:5432'])) as ConfigError;
  t.ok(ip instanceof ConfigError, 'a ConfigError (exit 64 at the entry)');
  t.same(ip.issues.map((i) => i.field), ['--egress[0]']);
  t.match(ip.message, /--egress\[0\]: got "db#127\.0\.0\.2:5432#10\.0\.0\.5:5432", expected an identity for entry "db": its remote 10\.0\.0\.5 is an IP address, so no identity can be derived; give one as a 4th field or with --egress-san db=SAN: .* or \* \(any mesh identity\)$/m);

  const conflict = t.throws(() => parseProxyFlags(['--no-iptables', '--egress', 'db#127.0.0.2:5432#db.shop.svc:5432#db.shop.svc', '--egress-san', 'db=spiffe://ccmesh.local/db'])) as ConfigError;
  t.same(conflict.issues, [{ field: '--egress[0].identity', value: 'db.shop.svc', expected: 'the identity --egress-san gives entry "db" (spiffe://ccmesh.local/db), or no 4th field' }]);
  t.same(ids(['--egress', 'db#127.0.0.2:5432#db.shop.svc:5432#db.shop.svc', '--egress-san', 'db=db.shop.svc']), [['db', { kind: 'dns', value: 'db.shop.svc' }, 'field']], 'the same identity twice is no conflict');

  const bad = t.throws(() => parseProxyFlags(['--no-iptables', '--egress', 'db#127.0.0.2:5432#db.shop.svc:5432', '--egress-san', 'db=https://db', '--egress-san', 'x=db'])) as ConfigError;
  t.same(bad.issues.map((i) => [i.field, i.value]), [['--egress-san', 'db=https://db'], ['--egress-san', 'x=db']]);
  t.match(bad.issues[0]?.expected, /a DNS name, a spiffe:\/\/<trust-domain>\/<path> ID or an IP address/);
  t.end();
});

void t.test('handshake admission bounds: defaults and flags', (t) => {
  const d = parseProxyFlags(['--no-iptables']);
  t.same([d.maxHandshakes, d.maxUnauthenticatedPerSource], [1024, 64], 'defaults');
  const c = parseProxyFlags(['--no-iptables', '--max-handshakes', '200', '--max-unauthenticated-per-source', '10']);
  t.same([c.maxHandshakes, c.maxUnauthenticatedPerSource], [200, 10], 'set by flags');
  const err = t.throws(() => parseProxyFlags(['--no-iptables', '--max-handshakes', '0', '--max-unauthenticated-per-source', 'x'])) as ConfigError;
  t.same(err.issues.map((i) => i.field), ['--max-handshakes', '--max-unauthenticated-per-source'], 'zero and non-numbers are refused, both named');
  t.end();
});

// `--tee`, `--sim-dir`, `--host-data`: the renewal evidence issuer, checked like the initializer's.
const teeBase = ['--no-iptables', '--coordinator', 'coordinator:7777'];
const hex32 = '0a'.repeat(32);

void t.test('accepted', (t) => {
  t.equal(parseProxyFlags(teeBase).renewalTee, undefined, 'none by default: a renewal that needs evidence fails');
  t.same(parseProxyFlags([...teeBase, '--tee', 'auto']).renewalTee, { kind: 'auto', simDir: undefined, hostData: undefined });
  const sim = parseProxyFlags([...teeBase, '--tee', 'simulated', '--sim-dir', '/sim', '--host-data', hex32]).renewalTee;
  t.equal(sim?.kind, 'simulated');
  t.equal(sim?.simDir, '/sim');
  t.equal(Buffer.from(sim!.hostData!).toString('hex'), hex32);
  t.end();
});

void t.test('refused, naming the flag', (t) => {
  const cases: [string, string[], string, RegExp][] = [
    ['--tee without --coordinator', ['--no-iptables', '--tee', 'auto'], '--tee', /only together with --coordinator/],
    ['an unknown issuer', [...teeBase, '--tee', 'sgx'], '--tee', /one of/],
    ['simulated without a directory', [...teeBase, '--tee', 'simulated'], '--sim-dir', /simulated platform directory/],
    ['--sim-dir without --tee', [...teeBase, '--sim-dir', '/sim'], '--sim-dir', /only together with --tee simulated/],
    ['--host-data on hardware', [...teeBase, '--tee', 'auto', '--host-data', hex32], '--host-data', /real hardware sets it/],
    ['--host-data not 32 bytes', [...teeBase, '--tee', 'simulated', '--sim-dir', '/sim', '--host-data', 'abcd'], '--host-data', /64 hex digits/],
  ];
  for (const [what, argv, field, reason] of cases) {
    const err = t.throws(() => parseProxyFlags(argv), what) as ConfigError;
    t.ok(err instanceof ConfigError, `${what}: a ConfigError`);
    t.ok(err.issues.some((i) => i.field === field), `${what}: names ${field}`);
    t.match(err.message, reason, `${what}: says why`);
  }
  t.end();
});

void t.test('--egress listeners, which take plaintext from the app, are on loopback only', (t) => {
  for (const listen of ['0.0.0.0:5432', '10.0.0.7:5432', '[::1]:5432', '[::]:5432']) {
    const err = t.throws(() => parseProxyFlags(['--no-iptables', '--egress', `db#${listen}#db.shop.svc:5432`])) as ConfigError;
    t.same(err.issues, [{ field: '--egress[0].listen', value: listen, expected: 'a loopback address 127.x.y.z:port (the app connects there in plaintext)' }], `${listen}: refused`);
  }
  t.same(parseProxyFlags(['--no-iptables', '--egress', 'db#127.0.0.2:5432#db.shop.svc:5432']).egress.map((e) => e.listen), [{ host: '127.0.0.2', port: 5432 }], 'control: a 127.x address is taken');
  t.end();
});

void t.test('--tunnel flags', (t) => {
  const d = parseProxyFlags(['--no-iptables']);
  t.same(d.tunnel, { enabled: true, poolSize: 2, maxStreams: 128, drainMs: 300_000 }, 'on by default (pool 2, 128 streams, 5 min drain)');
  const c = parseProxyFlags(['--no-iptables', '--tunnel', 'on', '--tunnel-pool', '4', '--tunnel-streams', '100', '--tunnel-drain', '30s']);
  t.same(c.tunnel, { enabled: true, poolSize: 4, maxStreams: 100, drainMs: 30_000 });
  t.equal(parseProxyFlags(['--no-iptables', '--tunnel', 'off']).tunnel.enabled, false, '--tunnel off');
  const err = t.throws(() => parseProxyFlags(['--no-iptables', '--tunnel', 'maybe', '--tunnel-pool', '0', '--tunnel-streams', 'x', '--tunnel-drain', '0'])) as ConfigError;
  t.same(err.issues.map((i) => i.field), ['--tunnel', '--tunnel-pool', '--tunnel-streams', '--tunnel-drain'], 'each bad value named');
  // Above 1 024 streams the per-stream window (SESSION_WINDOW_BUDGET / streams) would fall below 32 KiB.
  const many = t.throws(() => parseProxyFlags(['--no-iptables', '--tunnel', 'on', '--tunnel-streams', '1025'])) as ConfigError;
  t.match(many.message, /--tunnel-streams.*1025/, 'more than 1 024 streams per connection: refused, naming the value');
  const off = t.throws(() => parseProxyFlags(['--no-iptables', '--tunnel', 'off', '--tunnel-pool', '3'])) as ConfigError;
  t.match(off.message, /--tunnel-pool.*only with --tunnel on/);
  t.same(parseProxyFlags(['--no-iptables', '--tunnel-pool', '3']).tunnel, { enabled: true, poolSize: 3, maxStreams: 128, drainMs: 300_000 }, 'the tunnel settings alone: the tunnel is on by default');
  t.end();
});
