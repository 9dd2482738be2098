/** Table-driven checks of SAN classification, trust domains and SPIFFE IDs. */
import t from 'tap';
import { ErrorCode } from '../../lib/errors.js';
import { checkSpiffeId, isSpiffePath, isTrustDomain, spiffeIdFor } from '../../contract/spiffe-id.js';
import { isDnsSan, MAX_SANS, parseSubjectAltNames } from './subject-alt-names.js';

void t.test('SANs become IP or DNS names; duplicates collapse; junk is refused', (t) => {
  t.same(parseSubjectAltNames(['10.0.0.1', 'fd00::1', 'Web.Default.svc', 'web.default.svc', '*.ns.svc', 'localhost']), [
    { type: 'ip', value: '10.0.0.1' },
    { type: 'ip', value: 'fd00::1' },
    { type: 'dns', value: 'web.default.svc' },
    { type: 'dns', value: '*.ns.svc' },
    { type: 'dns', value: 'localhost' },
  ]);
  const table: [string, boolean][] = [
    ['a', true], ['a-b.c', true], ['*.a', true], ['x'.repeat(63), true], ['x'.repeat(64), false], ['', false], ['*', false],
    ['a.*', false], ['a.*.b', false], ['**.a', false], ['-a.b', false], ['a-.b', false], ['a..b', false], ['a.b.', false],
    ['a_b', false], ['a b', false], ['spiffe://x/y', false], ['é.example', false], [`${'a.'.repeat(126)}ab`, false],
  ];
  for (const [name, ok] of table) t.equal(isDnsSan(name), ok, JSON.stringify(name));
  t.throws(() => parseSubjectAltNames(['ok', '1.2.3', 'x y']), { code: ErrorCode.PKI_INPUT_INVALID, message: /"x y"/ });
  t.throws(() => parseSubjectAltNames(new Array<string>(MAX_SANS + 1).fill('a')), { code: ErrorCode.PKI_INPUT_INVALID });
  t.end();
});

void t.test('trust domains, SPIFFE paths and IDs follow the SPIFFE ID syntax', (t) => {
  for (const [td, ok] of [['mesh.example', true], ['a_b-c.d', true], ['Mesh.example', false], ['', false], ['a:1', false], ['a/b', false]] as const) {
    t.equal(isTrustDomain(td), ok, td);
  }
  for (const [p, ok] of [['web', true], ['ns/web', true], ['a.b-c_d', true], ['', false], ['a//b', false], ['a/', false], ['.', false], ['a/..', false], ['a%2Fb', false], ['a b', false]] as const) {
    t.equal(isSpiffePath(p), ok, p);
  }
  t.equal(spiffeIdFor('mesh.example', 'ns/web'), 'spiffe://mesh.example/ns/web');
  t.throws(() => spiffeIdFor('mesh.example', ''), { code: ErrorCode.PKI_INPUT_INVALID });
  t.throws(() => spiffeIdFor('mesh.example', 'a?b'), { code: ErrorCode.PKI_INPUT_INVALID });
  t.throws(() => spiffeIdFor('MESH', 'web'), { code: ErrorCode.PKI_INPUT_INVALID });
  for (const bad of ['spiffe://', 'spiffe:///web', 'spiffe://mesh.example/', 'spiffe://mesh.example/web?x', 'spiffe://mesh.example/web#f', 'SPIFFE://mesh.example/web', `spiffe://m/${'a'.repeat(2040)}`]) {
    t.throws(() => checkSpiffeId(bad), { code: ErrorCode.PKI_INPUT_INVALID }, bad);
  }
  t.doesNotThrow(() => checkSpiffeId('spiffe://mesh.example/web'));
  t.end();
});
