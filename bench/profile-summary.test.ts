/** The CPU-profile summary: self time per function and module, idle apart. */
import t from 'tap';
import { type CpuProfile, moduleOf, renderSummary, summarise } from './profile-summary.js';

const frame = (functionName: string, url: string, lineNumber = 0): { functionName: string; url: string; lineNumber: number } => ({ functionName, url, lineNumber });

/** 10 ms sampled in 10 hits: 1 ms per hit. */
const profile: CpuProfile = {
  startTime: 0,
  endTime: 10_000,
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), hitCount: 0 },
    { id: 2, callFrame: frame('(idle)', ''), hitCount: 4 },
    { id: 3, callFrame: frame('onData', 'file:///srv/ccmesh/dist/proxy/transport/splice.js', 6), hitCount: 3 },
    { id: 4, callFrame: frame('onDrain', 'file:///srv/ccmesh/dist/proxy/transport/splice.js', 11), hitCount: 1 },
    { id: 5, callFrame: frame('writeBuffer', ''), hitCount: 2 },
  ],
};

void t.test('self time per function and module, idle left out of the busy total', (t) => {
  const s = summarise(profile);
  t.equal(s.idleUs, 4000);
  t.equal(s.totalUs, 6000);
  t.equal(s.byFunction.get('onData dist/proxy/transport/splice.js:7'), 3000);
  t.equal(s.byModule.get('dist/proxy/transport/splice.js'), 4000);
  t.equal(s.byModule.get('(native)'), 2000);
  t.notOk([...s.byFunction.keys()].some((k) => k.startsWith('(idle)')));
  // A second profile adds up.
  const twice = summarise(profile, s);
  t.equal(twice.totalUs, 12_000);
  t.equal(twice.byModule.get('dist/proxy/transport/splice.js'), 8000);
  t.match(renderSummary('x', s, 1), /6 ms busy, 4 ms idle[\s\S]*66\.7 % {2}dist\/proxy\/transport\/splice\.js/);
  t.end();
});

void t.test('module names', (t) => {
  t.equal(moduleOf(''), '(native)');
  t.equal(moduleOf('node:net'), 'node:net');
  t.equal(moduleOf('file:///a/b/node_modules/prom-client/lib/histogram.js'), 'node_modules/prom-client/lib/histogram.js');
  t.end();
});
