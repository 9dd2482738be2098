import t from 'tap';
import { ConfigError } from '../../lib/errors.js';
import { PROXY_FLAGS, readProxyConfig } from '../../proxy/src/config.js';
import { readCommandFlags } from '../flags.js';
import { readCaptureConfig } from './proxy-capture.js';

function parse(argv: string[]): ReturnType<typeof readCaptureConfig> {
  const { tok, r } = readCommandFlags('proxy', argv, PROXY_FLAGS);
  readProxyConfig(r, tok.lists);
  const capture = readCaptureConfig(r, tok.values);
  r.finish();
  return capture;
}

void t.test('capture flags of ccmesh proxy', (t) => {
  const c = parse(['--ingress', 'web#8080##pub#8443#tls', '--ipv6', 'off', '--exclude-ports', '9100', '--watchdog-interval', '2s']);
  t.equal(c.plan.ipv6, 'off');
  t.equal(c.watchdogIntervalMs, 2000);
  const inbound = c.plan.v4.tables[0]!.rules.filter((r) => r.chain === 'CCMESH_INBOUND').map((r) => r.spec.join(' '));
  t.ok(inbound.some((r) => r.includes('--dport 9100 -j RETURN')), 'excluded port passed through to the plan');
  t.ok(inbound.some((r) => r.includes('--dport 8443 -j TPROXY --on-port 15007')), 'tls port to 15007');
  const err = t.throws(() => parse(['--ingress', 'bad#x##web#15006', '--egress-capture', '10.0.0.0/8', '--ipv6', 'maybe'])) as ConfigError;
  t.ok(err instanceof ConfigError);
  const fields = err.issues.map((i) => i.field);
  t.equal(fields.filter((f) => f.startsWith('--ingress[')).length, 1, 'the ingress grammar issue is reported once');
  t.ok(fields.includes('--ingress'), 'a mesh port as an ingress port is refused');
  t.ok(fields.includes('--ipv6'));
  t.match(err.message, /--egress-capture: .*transparent outbound listener \(15001\) is not in this build/);
  t.end();
});
