import t from 'tap';
import { buildSanAllowList, canonicalIpv6, sansAllowed } from './identity.js';

void t.test('SAN allow-lists', (t) => {
  const allow = buildSanAllowList(['web.default.svc', '*.ns.svc', 'spiffe://ccmesh.local/batch', '::1', '10.0.0.1'])!;
  const cases: [string, boolean][] = [
    ['DNS:web.default.svc', true],
    ['DNS:WEB.default.svc', true],
    ['DNS:db.default.svc, DNS:web.default.svc', true],
    ['DNS:a.ns.svc', true],
    ['DNS:a.b.ns.svc', false],
    ['DNS:*.ns.svc', false],
    ['URI:spiffe://ccmesh.local/batch', true],
    ['URI:spiffe://ccmesh.local/batch2', false],
    ['IP Address:0:0:0:0:0:0:0:1', true],
    ['IP Address:10.0.0.1', true],
    ['IP Address:10.0.0.2', false],
    ['DNS:"web.default.svc, DNS:x"', false],
    ['email:web.default.svc', false],
    ['', false],
  ];
  for (const [text, want] of cases) t.equal(sansAllowed(text, allow), want, text);
  t.equal(buildSanAllowList([]), undefined, 'no allow-list = any mesh identity');
  t.equal(canonicalIpv6('::ffff:10.0.0.1'), '0:0:0:0:0:ffff:a00:1');
  t.equal(canonicalIpv6('2001:DB8::0001'), '2001:db8:0:0:0:0:0:1');
  t.end();
});
