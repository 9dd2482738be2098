import t from 'tap';
import { SingleFlight } from './single-flight.js';

void t.test('concurrent calls share one run; settled keys run again; failures are shared, not remembered', async (t) => {
  const sf = new SingleFlight<number>();
  let runs = 0;
  let release: (v: number) => void = () => undefined;
  const task = (): Promise<number> => {
    runs++;
    return new Promise<number>((r) => (release = r));
  };
  const a = sf.run('k', task);
  const b = sf.run('k', task);
  const other = sf.run('other', async () => 7);
  t.equal(sf.size, 2);
  await Promise.resolve(); // the task starts on the next microtask
  release(42);
  t.same(await Promise.all([a, b, other]), [42, 42, 7]);
  t.equal(runs, 1);
  t.equal(sf.size, 0);
  const failing = (): Promise<number> => Promise.reject(new Error('boom'));
  const f1 = sf.run('k', failing);
  const f2 = sf.run('k', () => Promise.resolve(1));
  await t.rejects(f1, /boom/);
  await t.rejects(f2, /boom/);
  t.equal(await sf.run('k', () => Promise.resolve(2)), 2);
  const sync = sf.run('s', () => {
    throw new Error('sync throw');
  });
  await t.rejects(sync, /sync throw/);
});
