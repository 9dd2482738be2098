import t from 'tap';
import { Counter, register as globalRegistry } from 'prom-client';
import { createRegistry } from './metrics.js';

void t.test('each registry is separate and the global registry stays empty', async (t) => {
  const a = createRegistry({ defaultLabels: { component: 'a' } });
  const b = createRegistry();
  new Counter({ name: 'ccmesh_test_things_total', help: 'things', registers: [a] }).inc(2);
  // The same name in another registry must not collide.
  new Counter({ name: 'ccmesh_test_things_total', help: 'things', registers: [b] }).inc(5);
  t.match(await a.metrics(), /ccmesh_test_things_total\{component="a"\} 2/);
  t.match(await b.metrics(), /ccmesh_test_things_total 5/);
  t.equal(globalRegistry.getSingleMetric('ccmesh_test_things_total'), undefined);
});

void t.test('process metrics are opt-in, under their standard names', async (t) => {
  const r = createRegistry({ processMetrics: true });
  t.match(await r.metrics(), /^process_resident_memory_bytes[ {]/m);
  t.notMatch(await createRegistry().metrics(), /process_cpu/);
});
