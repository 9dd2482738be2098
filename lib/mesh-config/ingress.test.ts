import t from 'tap';
import fc from 'fast-check';
import { parseEgressSpec } from './egress.js';
import { parseIngressSpec } from './ingress.js';

void t.test('ingress: table of valid specs', (t) => {
  const table: [string, unknown][] = [
    ['', []],
    ['web#8080', [{ name: 'web', port: 8080, mode: { kind: 'mtls', allow: [] } }]],
    ['web#8080#mtls##metrics#9090#plain', [{ name: 'web', port: 8080, mode: { kind: 'mtls', allow: [] } }, { name: 'metrics', port: 9090, mode: { kind: 'plain' } }]],
    ['api#443#tls', [{ name: 'api', port: 443, mode: { kind: 'tls' } }]],
    ['db#5432#mtls:allow=api,spiffe://ccmesh.local/apps/api', [{ name: 'db', port: 5432, mode: { kind: 'mtls', allow: ['api', 'spiffe://ccmesh.local/apps/api'] } }]],
    ['fwd#8080#mtls+operator', [{ name: 'fwd', port: 8080, mode: { kind: 'mtls', allow: [], operators: true } }]],
    ['db#5432#mtls+operator:allow=api,::1', [{ name: 'db', port: 5432, mode: { kind: 'mtls', allow: ['api', '::1'], operators: true } }]],
    ['web#8080#mtls+http', [{ name: 'web', port: 8080, mode: { kind: 'mtls', allow: [], protocol: 'http' } }]],
    ['g#9000#mtls+h2c:allow=api', [{ name: 'g', port: 9000, mode: { kind: 'mtls', allow: ['api'], protocol: 'h2c' } }]],
    ['f#80#mtls+operator+http:allow=api', [{ name: 'f', port: 80, mode: { kind: 'mtls', allow: ['api'], operators: true, protocol: 'http' } }]],
    ['a#1#true##b#2#false', [{ name: 'a', port: 1, mode: { kind: 'plain' } }, { name: 'b', port: 2, mode: { kind: 'mtls', allow: [] } }]],
  ];
  for (const [spec, want] of table) {
    const r = parseIngressSpec(spec);
    t.same(r.issues, [], spec);
    t.same(r.entries, want, spec);
  }
  t.end();
});

void t.test('ingress: every problem at once, with the entry index', (t) => {
  const r = parseIngressSpec('Web#8080##web2#0##dup#70000#mtls##x#22#open##y#22##z', '--ingress');
  t.same(r.issues.map((i) => i.field), ['--ingress[0].name', '--ingress[1].port', '--ingress[2].port', '--ingress[3].mode', '--ingress[5]']);
  const op = parseIngressSpec('a#1#mtls+operator:##b#2#mtls+operator:allow=##c#3#tls+operator##d#4#mtls+operators##e#5#mtls:allow=x+operator');
  t.same(op.issues.map((i) => i.field), ['ingress[0].mode', 'ingress[1].mode', 'ingress[2].mode', 'ingress[3].mode', 'ingress[4].mode'], 'malformed operator modes are refused, each named');
  const l7 = parseIngressSpec('a#1#tls+http##b#2#mtls+grpc##c#3#mtls+http:allow=##d#4#plain+h2c##e#5#mtls:allow=x+http##f#6#mtls+http+operator');
  t.same(l7.issues.map((i) => i.field), ['ingress[0].mode', 'ingress[1].mode', 'ingress[2].mode', 'ingress[3].mode', 'ingress[4].mode', 'ingress[5].mode'], 'malformed protocol suffixes are refused, each named');
  t.match(l7.issues[2]!.expected, /mtls\+http:allow=/);
  const dup = parseIngressSpec('a#80##b#80##a#81');
  t.same(dup.issues.map((i) => i.field), ['ingress[1].port', 'ingress[2].name']);
  t.end();
});

void t.test('egress: loopback listeners to host:port remotes', (t) => {
  const ok = parseEgressSpec('api#127.0.0.10:8080#api.default.svc:443##v6#127.1.2.3:9000#[fd00::1]:15006#api.default.svc');
  t.same(ok.issues, []);
  t.same(ok.entries[1], { name: 'v6', listen: { host: '127.1.2.3', port: 9000 }, remote: { host: 'fd00::1', port: 15006 }, identity: { kind: 'dns', value: 'api.default.svc' }, identitySource: 'field' });
  const bad = parseEgressSpec('a#10.0.0.1:80#x:1##b#127.0.0.1:80#no-port##c#127.0.0.1:80#h:1', 'egress');
  t.same(bad.issues.map((i) => i.field), ['egress[0].listen', 'egress[1].remote']);
  t.end();
});

void t.test('property: arbitrary text never throws', (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    parseIngressSpec(s);
    parseEgressSpec(s);
    return true;
  }), { numRuns: 2000 });
  t.end();
});
