// The Store contract, run against every backend: what the Coordinator may rely on, whichever store sits behind it.
// The etcd backend runs against a real etcd started for this file (test/support/coordinator/etcd-server.ts), one key
// prefix per test; without an etcd binary it is skipped with the reason, except as root or under CI.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../lib/errors.js';
import { EtcdServer, etcdOrSkip } from '../../test/support/coordinator/etcd-server.js';
import { EtcdStore } from './etcd-store.js';
import { FileStore } from './file-store.js';
import { MemoryStore } from './memory-store.js';
import { MAX_VALUE_BYTES } from './store.js';
import type { Store, StoreEntry } from './store.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

type Teardown = (fn: () => void) => void;

/** Resolves once `cond()` holds; backends that deliver watch events later than the write (etcd) need the wait. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const backends: { name: string; make: (t: { teardown: Teardown }) => Promise<Store> }[] = [
  { name: 'MemoryStore', make: async () => new MemoryStore() },
  {
    name: 'FileStore',
    make: async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'ccmesh-store-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      return FileStore.open(dir);
    },
  },
];

const etcdBin = await etcdOrSkip(t, 'the Store contract on etcd');
if (etcdBin !== undefined) {
  const etcd = await EtcdServer.start(etcdBin);
  t.teardown(() => etcd.stop());
  let n = 0;
  backends.push({ name: 'EtcdStore', make: async () => EtcdStore.open({ endpoints: [etcd.endpoint], prefix: `/ccmesh-contract/${n++}/` }) });
}

for (const { name, make } of backends) {
  void t.test(`${name}: compare-and-swap creates, updates and refuses stale revisions`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    t.equal(await s.get('a/b'), undefined);
    const created = await s.compareAndSwap('a/b', 0, enc('one'));
    if (!created.ok) throw new Error('create failed');
    t.ok(created.revision > 0);
    const again = await s.compareAndSwap('a/b', 0, enc('other'));
    t.equal(again.ok, false, 'create over an existing key is a conflict');
    if (!again.ok) t.same({ v: dec(again.current?.value), r: again.current?.revision }, { v: 'one', r: created.revision });
    const updated = await s.compareAndSwap('a/b', created.revision, enc('two'));
    if (!updated.ok) throw new Error('update failed');
    t.ok(updated.revision > created.revision, 'revision increases');
    const stale = await s.compareAndSwap('a/b', created.revision, enc('three'));
    t.equal(stale.ok, false, 'a stale writer gets a conflict');
    const got = await s.get('a/b');
    t.same({ v: dec(got?.value), r: got?.revision }, { v: 'two', r: updated.revision });
    t.equal((await s.compareAndSwap('missing', 5, enc('x'))).ok, false, 'expecting a revision of a missing key fails');
    t.equal(await s.get('missing'), undefined);
  });

  void t.test(`${name}: concurrent writers on one revision — exactly one wins`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.compareAndSwap('race', 0, enc(`w${i}`))));
    const winners = results.filter((r) => r.ok);
    t.equal(winners.length, 1);
    const got = await s.get('race');
    const winnerIndex = results.findIndex((r) => r.ok);
    t.equal(dec(got?.value), `w${winnerIndex}`);
  });

  void t.test(`${name}: values are copied in and out, empty values are kept`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    const buf = enc('abc');
    await s.compareAndSwap('k', 0, buf);
    buf[0] = 0x7a;
    const got = await s.get('k');
    t.equal(dec(got?.value), 'abc');
    got!.value[0] = 0x7a;
    t.equal(dec((await s.get('k'))?.value), 'abc');
    await s.compareAndSwap('empty', 0, new Uint8Array(0));
    t.equal((await s.get('empty'))?.value.byteLength, 0);
  });

  void t.test(`${name}: list returns sorted keys under a prefix`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    for (const k of ['manifests/bb', 'manifests/aa', 'policies/cc', 'latest', 'manifestsx']) await s.compareAndSwap(k, 0, enc(k));
    t.same(await s.list('manifests/'), ['manifests/aa', 'manifests/bb']);
    t.same(await s.list(''), ['latest', 'manifests/aa', 'manifests/bb', 'manifestsx', 'policies/cc']);
    t.same(await s.list('nothing/'), []);
  });

  void t.test(`${name}: watch sees committed changes under its prefix, in order, until unsubscribed`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    const seen: [string, string | undefined, number | undefined][] = [];
    const stop = s.watch('state/', (key, e: StoreEntry | undefined) => seen.push([key, dec(e?.value), e?.revision]));
    s.watch('state/', () => {
      throw new Error('a broken listener must not break writers or other listeners');
    });
    // Stays subscribed: once it has seen "state/b", any listener still subscribed would have seen it too.
    const barrier: string[] = [];
    const stopBarrier = s.watch('state/', (key) => barrier.push(key));
    const r1 = await s.compareAndSwap('state/a', 0, enc('1'));
    await s.compareAndSwap('other/a', 0, enc('x'));
    await s.compareAndSwap('state/a', 0, enc('conflict')); // failed CAS: no event
    const r2 = await s.compareAndSwap('state/a', r1.ok ? r1.revision : -1, enc('2'));
    await until(() => seen.length >= 2, 'two events');
    stop();
    stop();
    await s.compareAndSwap('state/b', 0, enc('after'));
    await until(() => barrier.includes('state/b'), 'the write after unsubscribing');
    stopBarrier();
    t.same(seen, [
      ['state/a', '1', r1.ok ? r1.revision : -1],
      ['state/a', '2', r2.ok ? r2.revision : -1],
    ]);
    t.same(barrier, ['state/a', 'state/a', 'state/b'], 'nothing outside the prefix, no failed write');
  });

  void t.test(`${name}: refuses invalid keys, prefixes, revisions and oversized values`, async (t) => {
    const s = await make(t);
    t.teardown(() => s.close());
    for (const bad of ['', '/a', 'a/', 'a//b', '../x', 'a/../b', '.hidden', 'A', 'a b', 'a%2Fb', 'é', 'x'.repeat(161)]) {
      await t.rejects(s.get(bad), { code: ErrorCode.STORE_KEY_INVALID }, `key ${JSON.stringify(bad)}`);
      await t.rejects(s.compareAndSwap(bad, 0, enc('x')), { code: ErrorCode.STORE_KEY_INVALID });
    }
    await t.rejects(s.list('A'), { code: ErrorCode.STORE_KEY_INVALID });
    t.throws(() => s.watch('a b', () => undefined), { code: ErrorCode.STORE_KEY_INVALID });
    await t.rejects(s.compareAndSwap('k', -1, enc('x')), { code: ErrorCode.STORE_KEY_INVALID });
    await t.rejects(s.compareAndSwap('k', 1.5, enc('x')), { code: ErrorCode.STORE_KEY_INVALID });
    await t.rejects(s.compareAndSwap('k', 0, new Uint8Array(MAX_VALUE_BYTES + 1)), { code: ErrorCode.STORE_VALUE_TOO_LARGE });
    t.equal((await s.compareAndSwap('k', 0, new Uint8Array(MAX_VALUE_BYTES))).ok, true, 'the limit itself is fine');
  });

  void t.test(`${name}: close waits for writes in flight, then refuses use`, async (t) => {
    const s = await make(t);
    const pending = s.compareAndSwap('k', 0, enc('v'));
    await s.close();
    t.equal((await pending).ok, true);
    await t.rejects(s.get('k'), { code: ErrorCode.STORE_CLOSED });
    await t.rejects(s.compareAndSwap('k', 1, enc('w')), { code: ErrorCode.STORE_CLOSED });
    await t.rejects(s.list(''), { code: ErrorCode.STORE_CLOSED });
    t.throws(() => s.watch('', () => undefined), { code: ErrorCode.STORE_CLOSED });
    await s.close(); // idempotent
  });
}
