import t from 'tap';
import { ConfigError } from '../../lib/errors.js';
import { parseManifestValue } from './parse.js';
import { checkSanClaims, type SanClaim } from './san-claims.js';
import { fullDocument, manifestFixtures, type EditableDoc } from '../../test/support/manifest.js';

const h = (c: string): string => c.repeat(64);
const entry = (hash: string, id: string, sans: string[]): SanClaim => ({ policyHash: h(hash), workloadSecretId: id, sans });

void t.test('a SAN claimed by two workloads is refused; one workload under two policies may repeat its names', (t) => {
  const cases: [string, SanClaim[], string[]][] = [
    ['distinct names', [entry('a', 'db', ['db.shop.svc']), entry('b', 'web', ['web.shop.svc'])], []],
    ['same workload, two policies (rollout)', [entry('a', 'db', ['db.shop.svc']), entry('b', 'db', ['db.shop.svc'])], []],
    // The attack: a Deployment named "db.shop.svc" in another namespace gets SANs that spell the real Service's name.
    ['another workload spells the same name', [entry('a', 'db', ['db', 'db.shop.svc']), entry('b', 'db-shop-svc', ['db.shop.svc', 'db.shop.svc.evil'])], ['policies.' + h('b') + '.sans[0]']],
    ['letter case does not separate names', [entry('a', 'db', ['db.shop.svc']), entry('b', 'x', ['DB.shop.svc'])], ['policies.' + h('b') + '.sans[0]']],
    ['a wildcard covering another workload\'s name', [entry('a', 'db', ['db-0.db.shop.svc']), entry('b', 'x', ['*.db.shop.svc'])], ['policies.' + h('b') + '.sans[0]']],
    ['a name under another workload\'s wildcard', [entry('a', 'db', ['*.db.shop.svc']), entry('b', 'x', ['db-1.db.shop.svc'])], ['policies.' + h('b') + '.sans[0]']],
    ['the same wildcard twice', [entry('a', 'db', ['*.db.shop.svc']), entry('b', 'x', ['*.db.shop.svc'])], ['policies.' + h('b') + '.sans[0]']],
    ['a wildcard covers one label only', [entry('a', 'db', ['*.db.shop.svc']), entry('b', 'x', ['a.b.db.shop.svc', 'db.shop.svc'])], []],
    ['IP SANs too', [entry('a', 'db', ['10.0.0.1']), entry('b', 'x', ['10.0.0.1'])], ['policies.' + h('b') + '.sans[0]']],
  ];
  for (const [name, entries, fields] of cases) t.same(checkSanClaims(entries).map((i) => i.field), fields, name);
  const [issue] = checkSanClaims([entry('a', 'db', ['db.shop.svc']), entry('b', 'evil', ['db.shop.svc'])]);
  t.match(issue?.expected, /db\.shop\.svc is also claimed by policy a{64}, workload "db"/, 'the issue names the other claimant');
  t.end();
});

void t.test('the manifest parser refuses a SAN claimed by two workloads', async (t) => {
  const f = await manifestFixtures();
  const doc = fullDocument(f) as EditableDoc;
  doc.policies[f.policyB].sans = ['coordinator', 'web'];
  const err = t.throws(() => parseManifestValue(doc)) as ConfigError;
  t.ok(err instanceof ConfigError, 'a config error');
  t.same(err.issues.map((i) => i.field), [`policies.${f.policyB}.sans[1]`], 'naming the later claim');
  doc.policies[f.policyB].sans = ['coordinator'];
  t.ok(parseManifestValue(doc), 'control: distinct names parse');
});
