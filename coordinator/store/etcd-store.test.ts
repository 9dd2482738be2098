/**
 * What the etcd backend adds to the Store contract (store-contract.test.ts runs that against it), with a real etcd:
 * revisions are etcd's mod_revision; two handles on one prefix see each other's writes, conflicts and watch events;
 * keys that are not store keys, or outside the prefix, are invisible; a watch cut off while etcd compacted the
 * revisions it missed catches up (every changed key, current value) and goes on; an unreachable cluster fails open()
 * with STORE_UNAVAILABLE in bounded time; a watch whose connection goes silent moves on after the HTTP/2 keepalive; https with client certificates (etcd with --client-cert-auth) works only
 * with the right client certificate and CA.
 * Without an etcd binary the file skips with the reason, except as root or under CI, where that fails.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { TestMesh } from '../../proxy/test/pki.js';
import { EtcdServer, etcdOrSkip } from '../../test/support/coordinator/etcd-server.js';
import { EtcdStore } from './etcd-store.js';
import type { StoreEntry } from './store.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A loopback TCP relay to etcd that can be cut (every connection dropped, new ones refused) and restored: a partition. */
class Relay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Pairs of stalled connections, destroyed at close(). */
  readonly #stalled: Socket[] = [];
  readonly #open: Socket[] = [];
  #cut = false;

  private constructor(target: number) {
    this.#server = createServer((client) => {
      if (this.#cut) return void client.destroy();
      const upstream = connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        this.#open.push(s);
        s.on('error', () => undefined);
        s.on('close', () => this.#sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
  }

  static async start(target: number): Promise<Relay> {
    const relay = new Relay(target);
    await new Promise<void>((resolve) => relay.#server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  /**
   * Every open connection goes silent both ways but stays open (a frozen member, a partition that drops packets);
   * new connections are relayed as before.
   */
  stall(): void {
    for (const s of this.#sockets) {
      s.unpipe();
      s.pause();
    }
    this.#sockets.clear();
    this.#stalled.push(...this.#open.splice(0));
  }

  async close(): Promise<void> {
    this.cut();
    for (const s of this.#stalled) s.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

const etcdBin = await etcdOrSkip(t, 'the etcd store tests');
if (etcdBin !== undefined) {
  const etcd = await EtcdServer.start(etcdBin);
  t.teardown(() => etcd.stop());
  const host = new Etcd3({ hosts: etcd.endpoint });
  t.teardown(() => host.close());
  let n = 0;
  const open = async (t: { teardown(fn: () => unknown): void }, prefix: string, endpoint = etcd.endpoint): Promise<EtcdStore> => {
    const s = await EtcdStore.open({ endpoints: [endpoint], prefix });
    t.teardown(() => s.close());
    return s;
  };

  void t.test('revisions are etcd mod_revisions; two handles on one prefix share keys, conflicts and watch events', async (t) => {
    const prefix = `/ccmesh-etcd-store/${n++}/`;
    const [a, b] = [await open(t, prefix), await open(t, prefix)];
    const seenByB: [string, string | undefined, number | undefined][] = [];
    b.watch('', (key, e: StoreEntry | undefined) => seenByB.push([key, dec(e?.value), e?.revision]));
    const r1 = await a.compareAndSwap('latest', 0, enc('one'));
    if (!r1.ok) throw new Error('create failed');
    const kv = (await host.get(`${prefix}latest`).exec()).kvs[0]!;
    t.equal(r1.revision, Number(kv.mod_revision), 'the revision a CAS returns is the key\'s mod_revision');
    t.same({ v: dec((await b.get('latest'))?.value), r: (await b.get('latest'))?.revision }, { v: 'one', r: r1.revision }, 'B reads A\'s write');
    const stale = await b.compareAndSwap('latest', 0, enc('two'));
    t.same(stale.ok ? undefined : { v: dec(stale.current?.value), r: stale.current?.revision }, { v: 'one', r: r1.revision }, 'B\'s create over it is a conflict that shows A\'s entry');
    await host.put(`${prefix}other-key`).value('x'); // an unrelated write moves the cluster revision, not latest's
    const r2 = await b.compareAndSwap('latest', r1.revision, enc('two'));
    t.ok(r2.ok && r2.revision > r1.revision + 1, 'B updates on A\'s revision; the revision jumped over the unrelated write');
    await until(() => seenByB.length >= 3, 'B\'s watch to see three changes');
    t.same(seenByB, [['latest', 'one', r1.revision], ['other-key', 'x', r1.revision + 1], ['latest', 'two', r2.ok ? r2.revision : -1]], 'B\'s watch saw A\'s write, the unrelated key and its own, in order');
  });

  void t.test('keys outside the prefix or not store keys are invisible to list and watch', async (t) => {
    const prefix = `/ccmesh-etcd-store/${n++}/`;
    const s = await open(t, prefix);
    const seen: string[] = [];
    s.watch('', (key) => seen.push(key));
    await host.put(`${prefix}UPPER`).value('stray');
    await host.put(`${prefix}a/../b`).value('stray');
    await host.put(`${prefix.slice(0, -1)}x/latest`).value('a neighbouring prefix');
    await s.compareAndSwap('manifests/aa', 0, enc('m'));
    await until(() => seen.length >= 1, 'the watch event');
    t.same(await s.list(''), ['manifests/aa'], 'list shows only the store key');
    t.same(seen, ['manifests/aa'], 'and so does the watch');
  });

  void t.test('a watch cut off while etcd compacted its revisions catches up on every changed key, then goes on', async (t) => {
    const prefix = `/ccmesh-etcd-store/${n++}/`;
    const relay = await Relay.start(etcd.clientPort);
    t.teardown(() => relay.close());
    const logs: string[] = [];
    const s = await EtcdStore.open({ endpoints: [`http://127.0.0.1:${relay.port}`], prefix, log: createLogger({ component: 'test', level: 'warn', sink: (l) => logs.push(l) }) });
    t.teardown(() => s.close());
    const seen: [string, string | undefined][] = [];
    s.watch('', (key, e) => seen.push([key, dec(e?.value)]));
    await s.compareAndSwap('a', 0, enc('a1'));
    await until(() => seen.length === 1, 'the first event');

    relay.cut();
    // Meanwhile, another writer changes two keys (one twice) and etcd compacts the history the watch missed.
    await host.put(`${prefix}a`).value('a2');
    await host.put(`${prefix}b`).value('b1');
    await host.put(`${prefix}a`).value('a3');
    const now = (await host.get(`${prefix}a`).exec()).header.revision;
    await host.kv.compact({ revision: now, physical: true });
    relay.restore();

    await until(() => seen.some(([k, v]) => k === 'a' && v === 'a3') && seen.some(([k, v]) => k === 'b' && v === 'b1'), 'the changes made during the cut', 60_000);
    t.same(seen[0], ['a', 'a1'], 'the event before the cut');
    t.same(seen.filter(([k]) => k === 'b'), [['b', 'b1']], 'b, created during the cut');
    t.ok(logs.some((l) => l.includes('etcd watch cancelled')), 'etcd cancelled the resumed watch (its revisions were compacted): the catch-up path ran');
    t.same(seen.filter(([k]) => k === 'a').at(-1), ['a', 'a3'], 'a at its latest value (a2 may be skipped: compacted)');
    await host.put(`${prefix}c`).value('c1');
    await until(() => seen.some(([k]) => k === 'c'), 'a change after the catch-up');
    t.pass('the re-opened watch delivers new changes');
  });

  void t.test('a watch whose connection goes silent (a frozen member, dropped packets) moves to one that answers after the keepalive', async (t) => {
    const relay = await Relay.start(etcd.clientPort);
    t.teardown(() => relay.close());
    const prefix = `/ccmesh-etcd-store/${n++}/`;
    const watched = await open(t, prefix, `http://127.0.0.1:${relay.port}`);
    const direct = await open(t, prefix);
    const seen: string[] = [];
    watched.watch('', (key, e) => seen.push(`${key}=${dec(e?.value)}`));
    const first = await direct.compareAndSwap('latest', 0, enc('one'));
    if (!first.ok) throw new Error('create failed');
    await until(() => seen.length === 1, 'the watch delivered the first write');
    relay.stall();
    const second = await direct.compareAndSwap('latest', first.revision, enc('two'));
    t.ok(second.ok, 'a write while the watch\'s connection is silent');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    t.same(seen, ['latest=one'], 'the silent connection delivers nothing');
    const stalledAt = Date.now();
    // HTTP/2 keepalive (ETCD_KEEPALIVE): a ping within 10 s, unanswered for 5 s, closes the connection; the watch
    // re-opens on a new one from the last revision it delivered. Without keepalive it waits as long as the silence.
    await until(() => seen.includes('latest=two'), 'the watch delivered the write made while it was silent', 40_000);
    t.same(seen, ['latest=one', 'latest=two'], `the write made during the silence, once, ${Date.now() - stalledAt} ms later`);
    t.ok(Date.now() - stalledAt <= 25_000, 'within the keepalive interval and timeout (and the reconnect)');
  });

  void t.test('an unreachable cluster fails open() with STORE_UNAVAILABLE, in bounded time', async (t) => {
    const [port] = (await freePorts(1)) as [number];
    const started = Date.now();
    const err = await EtcdStore.open({ endpoints: [`http://127.0.0.1:${port}`], requestTimeoutMs: 1_000 }).then((s) => s.close(), (e: unknown) => e);
    t.ok(err instanceof CcmeshError && err.code === ErrorCode.STORE_UNAVAILABLE, `STORE_UNAVAILABLE (${err instanceof Error ? err.message : String(err)})`);
    t.ok(Date.now() - started < 15_000, `failed within 15 s (${Date.now() - started} ms)`);
  });

  void t.test('https with client certificates: the right certificate and CA work; no client certificate or another CA does not', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-etcd-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const pki = await TestMesh.create('etcd.test', undefined);
    const server = await pki.leaf(['127.0.0.1', 'localhost']);
    const client = await pki.leaf(['ccmesh-coordinator']);
    const files = {
      cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem'), ca: join(dir, 'ca.pem'),
    };
    writeFileSync(files.cert, server.files.chain);
    writeFileSync(files.key, server.files.key);
    writeFileSync(files.ca, pki.root.certPem + pki.bundle());
    const secure = await EtcdServer.start(etcdBin, { tls: { certFile: files.cert, keyFile: files.key, clientCaFile: files.ca } });
    t.teardown(() => secure.stop());
    const tls = { ca: enc(pki.root.certPem), cert: enc(client.files.chain), key: enc(client.files.key) };
    const s = await EtcdStore.open({ endpoints: [secure.endpoint], tls, prefix: '/ccmesh-tls/' });
    t.teardown(() => s.close());
    const w = await s.compareAndSwap('latest', 0, enc('over tls'));
    t.ok(w.ok, 'a write over mutual TLS');
    t.equal(dec((await s.get('latest'))?.value), 'over tls', 'and its read');

    const noClientCert = await EtcdStore.open({ endpoints: [secure.endpoint], tls: { ca: tls.ca }, requestTimeoutMs: 2_000 }).then((x) => x.close(), (e: unknown) => e);
    t.ok(noClientCert instanceof CcmeshError, `without a client certificate: refused (${noClientCert instanceof Error ? noClientCert.message : 'opened'})`);
    const otherCa = await TestMesh.create('other.test');
    const wrongCa = await EtcdStore.open({ endpoints: [secure.endpoint], tls: { ...tls, ca: enc(otherCa.root.certPem) }, requestTimeoutMs: 2_000 }).then((x) => x.close(), (e: unknown) => e);
    t.ok(wrongCa instanceof CcmeshError, `trusting another CA: the server is refused (${wrongCa instanceof Error ? wrongCa.message : 'opened'})`);
  });
}
