/** SANs and default workload-secret ids: table-driven, expectations written out by hand. */
import t from 'tap';
import { buildSans, selectorMatches } from './sans.js';
import { defaultWorkloadSecretId, isSpiffePath } from './workload-id.js';

void t.test('SANs: four spellings of the name, then of each selecting Service, StatefulSet wildcards', (t) => {
  t.same(buildSans({ name: 'web', namespace: 'shop', clusterDomain: 'cluster.local', services: [] }), ['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local']);
  t.same(buildSans({ name: 'Web', namespace: 'shop', clusterDomain: 'c.example', services: ['web', 'api'] }), [
    'web', 'web.shop', 'web.shop.svc', 'web.shop.svc.c.example',
    'api', 'api.shop', 'api.shop.svc', 'api.shop.svc.c.example',
  ], 'lowercase, deduplicated, Services sorted');
  t.same(buildSans({ name: 'db', namespace: 'x', clusterDomain: 'cluster.local', services: [], headlessService: 'db-hl' }), [
    'db', 'db.x', 'db.x.svc', 'db.x.svc.cluster.local',
    'db-hl', 'db-hl.x', 'db-hl.x.svc', 'db-hl.x.svc.cluster.local',
    '*.db-hl.x.svc', '*.db-hl.x.svc.cluster.local',
  ]);
  t.end();
});

void t.test('a Service selects a template when all its selector pairs are among the labels', (t) => {
  t.ok(selectorMatches({ app: 'web' }, { app: 'web', tier: 'front' }));
  t.notOk(selectorMatches({ app: 'web', tier: 'back' }, { app: 'web', tier: 'front' }));
  t.notOk(selectorMatches({}, { app: 'web' }), 'an empty selector (a Service without selector) selects nothing');
  t.end();
});

void t.test('default workload-secret id: group/version/kind/namespace/name, "core" for the core group', (t) => {
  t.equal(defaultWorkloadSecretId('apps/v1', 'Deployment', 'shop', 'web'), 'apps/v1/Deployment/shop/web');
  t.equal(defaultWorkloadSecretId('v1', 'Pod', 'default', 'p'), 'core/v1/Pod/default/p');
  t.equal(defaultWorkloadSecretId('batch/v1', 'CronJob', 'a', 'b'), 'batch/v1/CronJob/a/b');
  for (const ok of ['apps/v1/Deployment/shop/web', 'shop/migrate', 'a.b-c_d']) t.ok(isSpiffePath(ok), ok);
  for (const bad of ['', '/a', 'a/', 'a//b', 'a/../b', 'a/./b', 'a b', 'ä', 'x'.repeat(257)]) t.notOk(isSpiffePath(bad), JSON.stringify(bad));
  t.end();
});

void t.test('a dotted resource name gives no SANs of its own (it could spell another namespace\'s Service)', (t) => {
  t.same(buildSans({ name: 'db.shop.svc', namespace: 'evil', clusterDomain: 'cluster.local', services: [] }), [], 'db.shop.svc in namespace evil: no names from the resource');
  t.same(buildSans({ name: 'db.shop.svc', namespace: 'evil', clusterDomain: 'cluster.local', services: ['cache'] }), ['cache', 'cache.evil', 'cache.evil.svc', 'cache.evil.svc.cluster.local'], 'only its Services\' names');
  t.end();
});
