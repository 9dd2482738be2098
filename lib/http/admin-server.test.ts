import t from 'tap';
import { Counter } from 'prom-client';
import { createRegistry } from '../metrics.js';
import { startAdminHttp } from './admin-server.js';

void t.test('probes answer 200/503, /metrics serves the registry, anything else is refused', async (t) => {
  const registry = createRegistry();
  new Counter({ name: 'ccmesh_test_admin_total', help: 'x', registers: [registry] }).inc();
  let ready = false;
  const admin = await startAdminHttp('127.0.0.1', 0, { '/ready': () => ({ ok: ready, body: ready ? 'ready' : 'not ready: starting' }) }, registry);
  t.teardown(() => admin.close());
  const get = async (path: string, method = 'GET') => {
    const r = await fetch(`http://127.0.0.1:${admin.port}${path}`, { method });
    return { status: r.status, body: await r.text() };
  };
  t.same(await get('/ready'), { status: 503, body: 'not ready: starting\n' });
  ready = true;
  t.same(await get('/ready?x=1'), { status: 200, body: 'ready\n' });
  t.match((await get('/metrics')).body, /ccmesh_test_admin_total 1/);
  t.equal((await get('/nope')).status, 404);
  t.equal((await get('/ready', 'POST')).status, 405);
  t.equal((await get('/toString')).status, 404, 'no prototype lookups');
});
