/**
 * Golden files for every rendered artefact: the restore text of plans (IPv4, IPv6, exclusions, plain and TLS-only
 * ports, egress capture), the guard, and the command transcript of `apply --dry-run`. Refresh with UPDATE_GOLDEN=1;
 * a mismatch fails with tap's line diff. The files live in the source tree (tests run from dist/).
 */
import { join } from 'node:path';
import t from 'tap';
import { iptablesCommand } from '../cli/commands/iptables.js';
import { FieldReader, type RawSource } from '../lib/config/fields.js';
import { assertGolden, type GoldenAsserts } from '../test/golden.js';
import { repoRoot } from '../test/fixtures.js';
import { parseIptablesConfig } from './config.js';
import { buildGuard, buildPlan, type Family } from './plan.js';
import { renderRestore, renderTables } from './render.js';

const DIR = join(repoRoot, 'iptables', 'testdata', 'golden');
function golden(t: GoldenAsserts, name: string, actual: string): void {
  assertGolden(t, DIR, name, actual);
}

function plan(source: RawSource): ReturnType<typeof buildPlan> {
  const r = new FieldReader('test', source);
  const config = parseIptablesConfig(r);
  r.finish();
  return buildPlan(config);
}

const CASES: readonly { name: string; family: Family; source: RawSource }[] = [
  { name: 'ipv4-default', family: 'v4', source: { ingress: 'web#8080' } },
  { name: 'ipv6-default', family: 'v6', source: { ingress: 'web#8080' } },
  { name: 'ipv4-exclusions', family: 'v4', source: { ingress: 'web#8080', 'admin-port': '9901', 'exclude-ports': '8086,9090' } },
  { name: 'ipv4-plain-tls', family: 'v4', source: { ingress: 'web#8080#mtls:allow=spiffe://mesh/frontend##api#8443#tls##health#8081#plain##legacy#9000#true' } },
  { name: 'ipv6-plain-tls', family: 'v6', source: { ingress: 'api#8443#tls##health#8081#plain' } },
  { name: 'ipv4-egress', family: 'v4', source: { ingress: 'web#8080', 'egress-capture': '198.18.0.0/15,fd00:198:18::/64', 'egress-ports': '443,80' } },
  { name: 'ipv6-egress', family: 'v6', source: { ingress: 'web#8080', 'egress-capture': '198.18.0.0/15,fd00:198:18::/64' } },
];

for (const c of CASES) {
  void t.test(`plan ${c.name}`, async (t) => {
    golden(t, `${c.name}.txt`, renderRestore(plan(c.source), c.family));
  });
}

void t.test('guard', async (t) => {
  golden(t, 'guard-ipv4.txt', renderTables([buildGuard('v4')]));
  golden(t, 'guard-ipv6.txt', renderTables([buildGuard('v6')]));
});

void t.test('apply --dry-run transcript', async (t) => {
  let out = '';
  const code = await iptablesCommand(['apply', '--ingress', 'web#8080##api#8443#tls', '--dry-run'], { stdout: (s) => (out += s), stderr: (s) => (out += s) });
  t.equal(code, 0);
  golden(t, 'apply-dry-run.txt', out);
});
