/** Table-driven tests of the iptables flags. */
import t from 'tap';
import { FieldReader, type RawSource } from '../lib/config/fields.js';
import { ConfigError } from '../lib/errors.js';
import { parseCidr, parseIptablesConfig } from './config.js';
import { buildPlan, exemptPorts } from './plan.js';

function parse(source: RawSource): ReturnType<typeof parseIptablesConfig> {
  const r = new FieldReader('flags', source, '--');
  const c = parseIptablesConfig(r);
  r.finish();
  return c;
}

void t.test('defaults are the restrictive ones', async (t) => {
  const c = parse({});
  t.same(c.ingress, []);
  t.equal(c.egressCapture, undefined);
  t.same(exemptPorts(c), [15020], 'only the admin port is exempt');
  t.equal(c.ipv6, 'auto');
  t.equal(c.proxyUid, 1337);
});

void t.test('CIDRs', async (t) => {
  const cases: [string, string | undefined][] = [
    ['198.18.0.0/15', '198.18.0.0/15'],
    ['198.19.0.0/15', undefined],
    ['10.0.0.1/32', '10.0.0.1/32'],
    ['FD00:198:18:0::/64', 'fd00:198:18::/64'],
    ['fd00::1/64', undefined],
    ['::/0', '::/0'],
    ['1.2.3.4/33', undefined],
    ['1.2.3.4', undefined],
    ['example.com/8', undefined],
  ];
  for (const [input, want] of cases) t.equal(parseCidr(input)?.text, want, input);
});

void t.test('every problem is reported at once', async (t) => {
  try {
    parse({ ingress: 'a#99999##b#15007', 'egress-capture': '10.0.0.1/8,nope', 'egress-ports': 'x', ipv6: 'yes', 'tproxy-mark': '0', 'route-table': '255' });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    const fields = (err as ConfigError).issues.map((i) => i.field);
    for (const f of ['--ingress[0].port', '--ingress', '--egress-capture', '--egress-ports', '--ipv6', '--tproxy-mark', '--route-table']) t.ok(fields.includes(f), `reports ${f}`);
  }
  t.throws(() => parse({ 'egress-ports': '80' }), /--egress-ports: got "80", expected no --egress-ports without --egress-capture/, 'ports without capture');
});

void t.test('egress capture splits CIDRs by family', async (t) => {
  const plan = buildPlan(parse({ 'egress-capture': '198.18.0.0/15,fd00:198:18::/64' }));
  const v4 = plan.v4.tables[0]!.rules.map((r) => r.spec.join(' '));
  const v6 = plan.v6.tables[0]!.rules.map((r) => r.spec.join(' '));
  t.ok(v4.some((r) => r.includes('198.18.0.0/15')) && !v4.some((r) => r.includes('fd00')));
  t.ok(v6.some((r) => r.includes('fd00:198:18::/64')) && !v6.some((r) => r.includes('198.18')));
  t.ok(v4.some((r) => r.includes('--uid-owner 1337 -j RETURN')), 'proxy exempt by uid');
});
