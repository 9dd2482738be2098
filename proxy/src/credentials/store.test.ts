/**
 * CredentialStore.exclusive: the renewal loop and the trust refresh each apply files and write them to the TLS
 * directory; their sections never interleave, so the directory ends with what was applied last.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { systemClock } from '../../../lib/clock.js';
import { createLogger } from '../../../lib/log.js';
import { TestMesh, writeTlsDir } from '../../test/pki.js';
import { FakeTimers } from '../../test/support.js';
import { createProxyMetrics } from '../metrics.js';
import { CredentialStore } from './store.js';

void t.test('exclusive sections run one after another, in order, and a failed one does not block the next', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['web'])).files);
  const store = await CredentialStore.load(dir, { clock: systemClock, timers: new FakeTimers(), logger: createLogger({ component: 'test', level: 'error', sink: () => undefined }), metrics: createProxyMetrics(new Registry()) });
  const events: string[] = [];
  let releaseFirst!: () => void;
  const first = store.exclusive(async () => {
    events.push('first: start');
    await new Promise<void>((r) => (releaseFirst = r));
    events.push('first: end');
  });
  const second = store.exclusive(async () => {
    events.push('second: start');
    throw new Error('second fails');
  });
  const third = store.exclusive(async () => {
    events.push('third');
    return 3;
  });
  await new Promise((r) => setImmediate(r));
  t.same(events, ['first: start'], 'the second section waits while the first is inside');
  releaseFirst();
  await first;
  await t.rejects(second, /second fails/, 'a section\'s failure reaches its caller');
  t.equal(await third, 3, 'and the next section still runs');
  t.same(events, ['first: start', 'first: end', 'second: start', 'third']);
});
