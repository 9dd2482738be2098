import t from 'tap';
import { tokeniseFlags } from '../../lib/config/argv.js';
import { FieldReader } from '../../lib/config/fields.js';
import { ConfigError } from '../../lib/errors.js';
import { PROXY_FLAGS, readProxyConfig } from './config.js';

function parse(argv: string[]): ReturnType<typeof readProxyConfig> {
  const tok = tokeniseFlags(argv, PROXY_FLAGS);
  const r = new FieldReader('proxy flags', tok.values, '--');
  const cfg = readProxyConfig(r, tok.lists);
  r.finish();
  return cfg;
}

void t.test('a full --no-iptables configuration', (t) => {
  const cfg = parse([
    '--no-iptables', '--ingress', 'web#8080#mtls:allow=api.default.svc##pub#8443#tls##metrics#9090#plain',
    '--inbound-port-map', '8080=15080,8443=15443,7000=15700',
    '--egress', 'api#127.0.0.2:80#api.default.svc:15080', '--egress-san', 'api=api.default.svc', '--idle-timeout', '5m',
  ]);
  t.same(cfg.inbound.map((l) => [l.name, l.appPort, l.listenPort, l.mode.kind]), [['web', 8080, 15080, 'mtls'], ['pub', 8443, 15443, 'tls'], ['port-7000', 7000, 15700, 'mtls']]);
  t.same(cfg.egress[0]?.expectSan, 'api.default.svc');
  t.equal(cfg.idleTimeoutMs, 300_000);
  t.equal(cfg.handshakeTimeoutMs, 10_000);
  t.equal(cfg.readyFile, '/ccmesh/ready');
  t.end();
});

void t.test('every problem at once', (t) => {
  const err = t.throws(() => parse([
    '--ingress', 'web#8080##db#5432#plain', '--inbound-port-map', '8080=x', '--egress-san', 'nope=a', '--workers', '0', '--admin-port', '0',
  ])) as unknown;
  t.ok(err instanceof ConfigError);
  const fields = (err as ConfigError).issues.map((i) => i.field);
  t.same(fields, ['--inbound-port-map', '--egress-san', '--workers', '--admin-port']);
  t.equal(parse(['--no-iptables', '--workers', '3']).workers, 3, '--workers > 1 with explicit listeners');
  t.match((t.throws(() => parse(['--no-iptables', '--workers', '65'])) as ConfigError).message, /--workers/, 'at most 64');
  t.equal(parse(['--workers', '2']).workers, 2, 'and with capture (the workers own the transparent listeners)');
  const err2 = t.throws(() => parse(['--no-iptables', '--ingress', 'web#8080##db#5432#plain', '--inbound-port-map', '5432=15432'])) as ConfigError;
  t.match(err2.message, /no plain port/);
  t.match(err2.message, /a listen port for ingress entry "web"/);
  t.end();
});

void t.test('capture mode: transparent listeners, capture-only flags refused with --no-iptables', (t) => {
  const cfg = parse(['--ingress', 'web#8080##pub#8443#tls', '--admin-port', '15021', '--ipv6', 'on']);
  t.equal(cfg.noIptables, false);
  t.same(cfg.transparent, { mtlsPort: 15006, tlsPort: 15007, entries: cfg.transparent?.entries, ownPorts: [15006, 15007, 15001, 15021] });
  t.same(cfg.transparent?.entries.map((e) => [e.port, e.mode.kind]), [[8080, 'mtls'], [8443, 'tls']]);
  t.same(cfg.inbound, [], 'no explicit listeners');
  t.equal(parse(['--no-iptables']).transparent, undefined);
  const err = t.throws(() => parse(['--no-iptables', '--ipv6', 'on', '--egress-capture', '10.0.0.0/8', '--watchdog-interval', '1s'])) as ConfigError;
  t.same(err.issues.map((i) => i.field), ['--egress-capture', '--ipv6', '--watchdog-interval']);
  t.end();
});

void t.test('--trust-refresh: default with --coordinator, off or at least 500ms, never without a Coordinator', (t) => {
  t.equal(parse(['--no-iptables', '--coordinator', 'coordinator:7777']).trustRefreshMs, 30_000, 'on by default every 30 s');
  t.equal(parse(['--no-iptables', '--coordinator', 'coordinator:7777', '--trust-refresh', '0']).trustRefreshMs, 0, '0 turns it off');
  t.equal(parse(['--no-iptables', '--coordinator', 'coordinator:7777', '--trust-refresh', '2s']).trustRefreshMs, 2000);
  t.match((t.throws(() => parse(['--no-iptables', '--trust-refresh', '5s'])) as ConfigError).message, /--trust-refresh.*only together with --coordinator/s);
  t.match((t.throws(() => parse(['--no-iptables', '--coordinator', 'c:7777', '--trust-refresh', '100ms'])) as ConfigError).message, /at least 500ms/);
  t.end();
});
