import t from 'tap';
import { readSample } from '../../test/fixtures.js';
import { defaultFreshnessRule, freshUntilMs, isFresh, usableWhenStale } from './freshness.js';
import { inspectCollateral } from './inspect-collateral.js';

const DAY = 86_400_000;

void t.test('freshness per kind', (t) => {
  const r = defaultFreshnessRule;
  t.equal(freshUntilMs({ kind: 'amd-vek', fetchedAtMs: 0, nextUpdateMs: undefined }, r), 30 * DAY);
  t.equal(freshUntilMs({ kind: 'amd-chain', fetchedAtMs: 5, nextUpdateMs: 1 }, r), 5 + 30 * DAY, 'certificates ignore nextUpdate');
  t.equal(freshUntilMs({ kind: 'amd-crl', fetchedAtMs: 0, nextUpdateMs: 7 * DAY }, r), 7 * DAY);
  t.equal(freshUntilMs({ kind: 'intel-qe-identity', fetchedAtMs: 0, nextUpdateMs: undefined }, r), DAY);
  t.equal(freshUntilMs({ kind: 'intel-root-crl', fetchedAtMs: 10, nextUpdateMs: 5 }, r), 10, 'expired on arrival: stale at once');
  t.notOk(isFresh({ kind: 'amd-vek', fetchedAtMs: 100, nextUpdateMs: undefined }, 50, r), 'fetched in the future');
  t.ok(usableWhenStale({ nextUpdateMs: undefined }, 1));
  t.notOk(usableWhenStale({ nextUpdateMs: 1 }, 1));
  t.end();
});

void t.test('inspection reads nextUpdate from real collateral and refuses junk', (t) => {
  const crl = inspectCollateral('intel-pck-crl', readSample('tdx/collateral/pck_platform_ca.crl.der'));
  t.same(crl, { usable: true, nextUpdateMs: Date.parse('2023-07-08T07:27:52Z') });
  const qe = inspectCollateral('intel-qe-identity', readSample('tdx/collateral/qeidentity-td_qe-2023-06-08.json'));
  t.same(qe, { usable: true, nextUpdateMs: Date.parse('2023-07-08T07:24:59Z') });
  t.same(inspectCollateral('amd-vek', readSample('snp/virtee-turin.vcek.der')), { usable: true, nextUpdateMs: undefined });
  t.same(inspectCollateral('amd-chain', readSample('snp/ask_ark_turin_vlek.pem')), { usable: true, nextUpdateMs: undefined });
  const junk = new TextEncoder().encode('<html></html>');
  for (const kind of ['amd-vek', 'amd-chain', 'amd-crl', 'intel-tcb-info', 'intel-qe-identity'] as const) {
    t.equal(inspectCollateral(kind, junk).usable, false, kind);
  }
  t.match(inspectCollateral('intel-tcb-info', new TextEncoder().encode('{"enclaveIdentity":{}}')), { usable: false, problem: /no "tcbInfo"/ });
  t.end();
});
