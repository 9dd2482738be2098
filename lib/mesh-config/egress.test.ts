import t from 'tap';
import fc from 'fast-check';
import { formatIssue } from '../errors.js';
import { parseEgressIdentity, parseEgressSpec, renderEgressSpec, type EgressIdentity } from './egress.js';

const L = '127.0.0.10:5432';

void t.test('egress identity: every kind of 4th field, and the default', (t) => {
  const table: [string, EgressIdentity, string][] = [
    [`db#${L}#db.shop.svc:5432#spiffe://ccmesh.local/shop/db`, { kind: 'uri', value: 'spiffe://ccmesh.local/shop/db' }, 'field'],
    [`db#${L}#10.0.0.5:5432#db.shop.svc`, { kind: 'dns', value: 'db.shop.svc' }, 'field'],
    [`db#${L}#10.0.0.5:5432#DB.Shop.svc`, { kind: 'dns', value: 'db.shop.svc' }, 'field'],
    [`db#${L}#10.0.0.5:5432#10.0.0.5`, { kind: 'ip', value: '10.0.0.5' }, 'field'],
    [`db#${L}#[fd00::5]:5432#fd00::5`, { kind: 'ip', value: 'fd00::5' }, 'field'],
    [`db#${L}#10.0.0.5:5432#*`, { kind: 'any' }, 'field'],
    [`db#${L}#db.shop.svc:5432`, { kind: 'dns', value: 'db.shop.svc' }, 'remote'],
    [`db#${L}#DB.shop.svc.cluster.local:5432`, { kind: 'dns', value: 'db.shop.svc.cluster.local' }, 'remote'],
    [`db#${L}#db:5432`, { kind: 'dns', value: 'db' }, 'remote'],
  ];
  for (const [spec, identity, source] of table) {
    const r = parseEgressSpec(spec, '--egress');
    t.same(r.issues, [], spec);
    t.same(r.entries.map((e) => [e.identity, e.identitySource]), [[identity, source]], spec);
  }
  t.end();
});

void t.test('egress identity: bad 4th fields are issues naming the field, the value and what is expected', (t) => {
  const bad = ['', 'spiffe://', 'spiffe://ccmesh.local', 'spiffe://ccmesh.local/', 'spiffe://ccmesh.local/a/../b', 'spiffe://Trust/db', 'spiffe://t/a%20b',
    'https://db.shop.svc/', 'uri:db', '*.db.shop.svc', '**', 'db_shop', '-db.shop.svc', 'db..shop', 'fe80::1%eth0', 'a'.repeat(64)];
  for (const id of bad) {
    const r = parseEgressSpec(`db#${L}#db.shop.svc:5432#${id}`, '--egress');
    t.same(r.entries, [], `${JSON.stringify(id)}: no entry`);
    t.same(r.issues.map(formatIssue), [`  --egress[0].identity: got ${JSON.stringify(id)}, expected a DNS name, a spiffe://<trust-domain>/<path> ID or an IP address the server's leaf carries, or * (any mesh identity)`], `${JSON.stringify(id)}: one precise issue`);
  }
  const five = parseEgressSpec(`db#${L}#db:1#db#x`, 'e');
  t.same(five.issues.map((i) => i.field), ['e[0].protocol'], 'a fifth field other than http is refused, naming the protocol field');
  t.end();
});

void t.test('egress identity: an IP remote without an identity is refused, naming the entry', (t) => {
  for (const remote of ['10.0.0.5:5432', '[fd00::5]:5432']) {
    const r = parseEgressSpec(`api#127.0.0.9:80#api.shop.svc:80##db#${L}#${remote}`, 'ccmesh.dev/egress');
    t.same(r.entries.map((e) => e.name), ['api'], `${remote}: only the entry with a DNS remote`);
    t.equal(r.issues.length, 1);
    t.equal(r.issues[0]?.field, 'ccmesh.dev/egress[1]');
    t.equal(r.issues[0]?.value, `db#${L}#${remote}`);
    t.match(r.issues[0]?.expected, /^an identity for entry "db": its remote .* is an IP address, so no identity can be derived; give one as a 4th field: a DNS name, /);
    t.match(r.issues[0]?.expected, /or \* \(any mesh identity\)/, 'offers * as the explicit opt-in');
  }
  const flag = parseEgressSpec(`db#${L}#10.0.0.5:5432`, '--egress', { pinFlag: '--egress-san' });
  t.match(flag.issues[0]?.expected, /give one as a 4th field or with --egress-san db=SAN: /, 'the proxy flag mentions the pin');
  t.end();
});

void t.test('egress identity: a pin wins over the default, agrees with or conflicts with a 4th field', (t) => {
  const pins = new Map<string, EgressIdentity>([['db', { kind: 'dns', value: 'postgres.shop.svc' }]]);
  const derived = parseEgressSpec(`db#${L}#db.shop.svc:5432`, '--egress', { pins });
  t.same(derived.entries[0]?.identity, { kind: 'dns', value: 'postgres.shop.svc' }, 'pin over the remote name');
  t.equal(derived.entries[0]?.identitySource, 'pin');
  const ip = parseEgressSpec(`db#${L}#10.0.0.5:5432`, '--egress', { pins });
  t.same([ip.issues, ip.entries[0]?.identity], [[], { kind: 'dns', value: 'postgres.shop.svc' }], 'a pin gives an IP remote its identity');
  const same = parseEgressSpec(`db#${L}#10.0.0.5:5432#postgres.shop.svc`, '--egress', { pins });
  t.same(same.issues, [], 'a 4th field equal to the pin is fine');
  const conflict = parseEgressSpec(`db#${L}#10.0.0.5:5432#db.shop.svc`, '--egress', { pins, pinFlag: '--egress-san' });
  t.same(conflict.entries, []);
  t.same(conflict.issues.map(formatIssue), ['  --egress[0].identity: got "db.shop.svc", expected the identity --egress-san gives entry "db" (postgres.shop.svc), or no 4th field']);
  t.end();
});

void t.test('egress: render writes every identity out and parses back to the same entries', (t) => {
  const spec = `db#${L}#db.shop.svc:5432##v6#127.0.0.11:80#[fd00::1]:15006#fd00::1##any#127.0.0.12:80#10.1.2.3:80#*##u#127.0.0.13:1#x:1#spiffe://t/x`;
  const first = parseEgressSpec(spec);
  t.same(first.issues, []);
  const text = renderEgressSpec(first.entries);
  t.equal(text, `db#${L}#db.shop.svc:5432#db.shop.svc##v6#127.0.0.11:80#[fd00::1]:15006#fd00::1##any#127.0.0.12:80#10.1.2.3:80#*##u#127.0.0.13:1#x:1#spiffe://t/x`);
  const again = parseEgressSpec(text);
  t.same(again.entries.map((e) => ({ ...e, identitySource: 'field' })), first.entries.map((e) => ({ ...e, identitySource: 'field' })));
  t.same(parseEgressIdentity('*'), { kind: 'any' });
  t.end();
});

void t.test('property: a parsed spec renders to one that parses to the same identities', (t) => {
  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
  const identity = fc.oneof(fc.constant('*'), fc.constant(''), label.map((l) => `${l}.ns.svc`), label.map((l) => `spiffe://ccmesh.local/${l}`), fc.ipV4(), fc.ipV6());
  const remote = fc.oneof(label.map((l) => `${l}.ns.svc:80`), fc.ipV4().map((ip) => `${ip}:80`), fc.ipV6().map((ip) => `[${ip}]:80`));
  fc.assert(fc.property(remote, identity, (r, id) => {
    const spec = `e#127.0.0.1:80#${r}${id === '' ? '' : `#${id}`}`;
    const first = parseEgressSpec(spec);
    if (first.entries.length === 0) return first.issues.length > 0;
    const again = parseEgressSpec(renderEgressSpec(first.entries));
    return again.issues.length === 0 && JSON.stringify(again.entries[0]?.identity) === JSON.stringify(first.entries[0]?.identity);
  }), { numRuns: 500 });
  t.end();
});

void t.test('egress protocol: a 5th field `http` makes an L7 entry; anything else is an issue naming the field', (t) => {
  const ok = parseEgressSpec(`web#${L}#web:8080#web#http##db#127.0.0.11:5432#db:5432#db`, '--egress');
  t.same(ok.issues, []);
  t.same(ok.entries.map((e) => e.protocol), ['http', undefined]);
  t.equal(renderEgressSpec(ok.entries), `web#${L}#web:8080#web#http##db#127.0.0.11:5432#db:5432#db`, 'the protocol renders back');
  const bad = parseEgressSpec(`web#${L}#web:8080#web#h2##x#127.0.0.12:1#x:1#x#http#more`, '--egress');
  t.same(bad.issues.map((i) => [i.field, i.value]), [['--egress[0].protocol', 'h2'], ['--egress[1]', 'x#127.0.0.12:1#x:1#x#http#more']]);
  t.match(bad.issues[0]!.expected, /^http/);
  t.end();
});
