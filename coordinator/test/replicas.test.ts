/**
 * Coordinator replicas on one real etcd (issue 17): two Coordinator units in this process, each on its own ports and
 * its own etcd client, one key prefix per test.
 *   - A fresh replica that sees another's first manifest goes to recovery; recovered, it serves the same mesh.
 *   - An update set on one replica is followed by the other: new bundle, NewMeshCert under the new manifest.
 *   - Racing updates: exactly one wins, the other is refused ABORTED (also when the rival's write lands between the
 *     loser's check of `latest` and its compare-and-swap), and the history stays a chain.
 *   - The host writes `latest` itself: an older validly signed pointer, a validly signed pointer on another branch,
 *     and a pointer extending the history but signed by another key are each refused by both replicas, counted and
 *     survived (they keep serving the newer state); putting the newest pointer back heals them.
 *   - etcd stopped: liveness and readiness stay 200 and issuance goes on from the verified state; what needs the
 *     store answers UNAVAILABLE; etcd back: updates work again and the other replica follows.
 * Without an etcd binary the file skips with the reason, except as root or under CI, where that fails.
 */
import t from 'tap';
import type tap from 'tap';

type Tap = Pick<typeof tap, 'teardown' | 'equal'>;
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import type { Registry } from 'prom-client';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { canonicalBytesOf } from '../../contract/manifest/canonical.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, SetManifestRequest, SetManifestResponse, UserApiMethods } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { EtcdServer, etcdOrSkip } from '../../test/support/coordinator/etcd-server.js';
import type { TransitionHash } from '../history/hashes.js';
import { History } from '../history/history.js';
import { encodeLatest, signLatest } from '../history/latest-pointer.js';
import { deriveSecrets } from '../pki/seed.js';
import { EtcdStore } from '../store/etcd-store.js';
import type { Store } from '../store/store.js';
import type { RunningCoordinator } from '../unit.js';
import { Harness, refused, sha256hex } from './harness.js';

/** Resolves once `cond` holds (a rejection counts as not yet); throws naming `what` after `ms`. */
async function eventually(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await Promise.resolve().then(cond).catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value;
}

async function probe(c: RunningCoordinator, path: 'liveness' | 'readiness'): Promise<number> {
  return (await fetch(`http://127.0.0.1:${c.metricsPort}/probe/${path}`)).status;
}

/** The gRPC status name of a refused call ("ABORTED"), or "OK". */
async function outcome(call: Promise<unknown>): Promise<string> {
  return call.then(() => 'OK', (err: unknown) => /^\w+: ([A-Z_]+): /.exec(err instanceof Error ? err.message : '')?.[1] ?? `unexpected: ${String(err)}`);
}

const etcdBin = await etcdOrSkip(t, 'the Coordinator replica tests on etcd');
if (etcdBin !== undefined) {
  const etcd = await EtcdServer.start(etcdBin);
  t.teardown(() => etcd.stop());
  // The host's own view of etcd: reads and writes the Coordinators' keys directly.
  const host = new Etcd3({ hosts: etcd.endpoint });
  t.teardown(() => host.close());
  let tests = 0;

  interface Replica {
    readonly c: RunningCoordinator;
    readonly user: PinnedClient<UserApiMethods>;
    readonly mesh: PinnedClient<MeshApiMethods>;
  }

  /**
   * Replica A (the harness's Coordinator) and replica B, both started on an empty prefix; the first manifest is set
   * on A, B goes to recovery by itself and is recovered with the seed from A's answer. `wrapB` wraps B's store.
   */
  const twoReplicas = async (t: Tap, opts: { wrapB?: (s: Store) => Store; historySyncMs?: number } = {}) => {
    const prefix = `/ccmesh-replicas/${tests++}/`;
    const open = (): Promise<Store> => EtcdStore.open({ endpoints: [etcd.endpoint], prefix });
    const h = await Harness.create({ openStore: open, historySyncMs: opts.historySyncMs ?? 300 });
    t.teardown(() => h.close());
    const connect = async (c: RunningCoordinator): Promise<Replica> => {
      const r = { c, user: await PinnedClient.connect(`127.0.0.1:${c.userPort}`, UserApi), mesh: await PinnedClient.connect(`127.0.0.1:${c.meshPort}`, MeshApi) };
      t.teardown(() => {
        r.user.close();
        r.mesh.close();
      });
      return r;
    };
    const a = await connect(await h.start());
    const bStore = await open();
    const b = await connect(await h.startReplica(opts.wrapB ? opts.wrapB(bStore) : bStore));
    t.equal(b.c.core.state, 'fresh', 'B starts fresh: the store is empty');
    const first = await a.user.call('SetManifest', await h.signedSet(a.user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
    await eventually(() => b.c.core.state === 'recovery', 'B saw the first manifest set on A and went to recovery');
    const { seed, salt } = decryptSeedShare(seedShareFromMessage(first.seedShares[0]!), h.seedshare.privateKey);
    await b.user.call('Recover', await h.recoverRequest(b.user, seed, salt));
    return { h, a, b, first, seed, salt, prefix };
  };

  /** A manifest with one more policy than the harness's, its documents, and the policy document itself. */
  const withExtraPolicy = (h: Harness, name: string) => {
    const doc = new Uint8Array(Buffer.from(`pod ${name} policy`));
    return { doc, manifest: h.manifest([sha256hex(doc)]), policies: [h.coordinatorDoc, h.podDoc, doc] };
  };

  const servedManifest = async (r: Replica): Promise<string> => (await r.mesh.call('GetTrustBundle', {})).manifestHash;

  void t.test('replicas: a fresh replica follows the first set into recovery; recovered, it serves the same mesh', async (t) => {
    const { h, a, b, first } = await twoReplicas(t);
    t.equal(b.c.core.state, 'ready', 'B is ready after Recover');
    const [ta, tb] = [await a.mesh.call('GetTrustBundle', {}), await b.mesh.call('GetTrustBundle', {})];
    t.same(tb, ta, 'both serve the same root, bundle and manifest');
    t.equal(tb.rootCa, first.rootCa, 'the root CA of the first set');
    const [ca, cb] = [await h.newPodCert(a.mesh), await h.newPodCert(b.mesh)];
    t.equal(Buffer.compare(Buffer.from(cb.res.workloadSecret!), Buffer.from(ca.res.workloadSecret!)), 0, 'one seed: the same workload secret from either replica');
    t.equal(await probe(b.c, 'readiness'), 200, 'B is ready');
  });

  void t.test('replicas: an update set on A is served by B (bundle, NewMeshCert under the new manifest)', async (t) => {
    const { h, a, b, first } = await twoReplicas(t);
    const extra = withExtraPolicy(h, 'api');
    const podOnlyInNew = async (r: Replica): Promise<string> => outcome(h.podRequest(r.mesh, { hostDataDoc: extra.doc }).then(({ request }) => r.mesh.call('NewMeshCert', request)));
    t.equal(await podOnlyInNew(b), 'PERMISSION_DENIED', 'before the update B refuses the new policy');
    const set = await a.user.call('SetManifest', await h.signedSet(a.user, extra.manifest, extra.policies));
    await eventually(async () => (await servedManifest(b)) === set.manifestHash, 'B serves the new manifest');
    const bundle = await b.mesh.call('GetTrustBundle', {});
    t.equal(bundle.meshCaBundle, set.meshCaBundle, 'B serves the bundle A answered: the new mesh CA and the previous one');
    t.equal(bundle.rootCa, first.rootCa, 'under the same root');
    const { request } = await h.podRequest(b.mesh, { hostDataDoc: extra.doc });
    const issued = await b.mesh.call('NewMeshCert', request);
    const chain = issued.certChain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
    const newMeshCa = new X509Certificate(set.meshCaBundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/)![0]);
    t.ok(new X509Certificate(chain[0]!).verify(newMeshCa.publicKey), 'B issues the new policy a leaf signed by the new mesh CA');
    t.equal(issued.workloadSecretId, `extra-${sha256hex(extra.doc).slice(0, 6)}`, 'with the new manifest\'s workload secret id');
    const manifests = await b.user.call('GetManifests', {});
    t.equal(manifests.manifests.length, 2, 'B\'s history has both manifests');
    t.equal(manifests.transitions.at(-1), set.transitionHash, 'and ends at A\'s transition');
    t.equal(await metric(b.c.registry, 'ccmesh_coordinator_manifest_generation'), 2, 'B counts generation 2');
    t.equal(await probe(b.c, 'readiness'), 200, 'B stays ready');
  });

  void t.test('replicas: racing updates — exactly one wins, the other is ABORTED, the history stays a chain', async (t) => {
    // B's store lets A's whole update land right after B has read `latest` for its own compare-and-swap.
    let armed = false;
    let rival: (() => Promise<void>) | undefined;
    const interposing = (inner: Store): Store => ({
      get: async (key) => {
        const got = await inner.get(key);
        if (armed && key === 'latest' && rival) {
          armed = false;
          await rival();
        }
        return got;
      },
      compareAndSwap: async (key, expected, value) => {
        const r = await inner.compareAndSwap(key, expected, value);
        // The mesh CA of B's new generation is B's last write before it advances `latest`.
        if (rival && key.startsWith('state/mesh-ca/')) armed = true;
        return r;
      },
      list: (p) => inner.list(p),
      watch: (p, l) => inner.watch(p, l),
      close: () => inner.close(),
    });
    const { h, a, b, first } = await twoReplicas(t, { wrapB: interposing });
    const m2a = withExtraPolicy(h, 'from-a');
    const m2b = withExtraPolicy(h, 'from-b');
    const reqA = await h.signedSet(a.user, m2a.manifest, m2a.policies);
    const reqB = await h.signedSet(b.user, m2b.manifest, m2b.policies);
    let rivalAnswer: SetManifestResponse | undefined;
    rival = async () => {
      rival = undefined;
      rivalAnswer = await a.user.call('SetManifest', reqA);
    };
    await refused(t, b.user.call('SetManifest', reqB), 'ABORTED', /the manifest history changed concurrently/, 'B, whose check of latest A\'s write overtook, loses at the compare-and-swap');
    t.ok(rivalAnswer, 'A\'s update landed in between');
    await eventually(async () => (await servedManifest(b)) === rivalAnswer!.manifestHash, 'B follows A\'s update');
    const afterOne = await b.user.call('GetManifests', {});
    t.same(afterOne.transitions, [first.transitionHash, rivalAnswer!.transitionHash], 'one line: the first set, then A\'s update only');

    // Then plain races, both requests sent at once. A round may serialise (the loser's request arrives after it has
    // followed the winner: both succeed, in a line); every refusal must be ABORTED and the history a chain of exactly
    // the successes.
    let chain = afterOne.transitions;
    let contested = 0;
    for (let round = 0; round < 4; round++) {
      const ma = withExtraPolicy(h, `a${round}`);
      const mb = withExtraPolicy(h, `b${round}`);
      const ra: SetManifestRequest = await h.signedSet(a.user, ma.manifest, ma.policies);
      const rb: SetManifestRequest = await h.signedSet(b.user, mb.manifest, mb.policies);
      const answers: (SetManifestResponse | string)[] = await Promise.all([
        a.user.call('SetManifest', ra).catch((err: unknown) => outcome(Promise.reject(err))),
        b.user.call('SetManifest', rb).catch((err: unknown) => outcome(Promise.reject(err))),
      ]);
      const wins = answers.filter((x): x is SetManifestResponse => typeof x !== 'string');
      const losses = answers.filter((x): x is string => typeof x === 'string');
      t.ok(wins.length >= 1, `round ${round}: at least one update wins`);
      t.same(losses, losses.map(() => 'ABORTED'), `round ${round}: a loser is refused ABORTED`);
      if (wins.length === 1) contested++;
      await eventually(async () => {
        const [ha, hb] = await Promise.all([a.user.call('GetManifests', {}), b.user.call('GetManifests', {})]);
        return ha.transitions.length === chain.length + wins.length && ha.transitions.join() === hb.transitions.join() && (await servedManifest(a)) === (await servedManifest(b));
      }, `round ${round}: both replicas serve the same head`);
      const now = (await a.user.call('GetManifests', {})).transitions;
      t.same(now.slice(0, chain.length), chain, `round ${round}: the history only grew`);
      t.same(new Set(now.slice(chain.length)), new Set(wins.map((w) => w.transitionHash)), `round ${round}: by exactly the winners' transitions`);
      chain = now;
    }
    t.ok(contested >= 1, `at least one round was a real race (${contested} of 4)`);
  });

  void t.test('replicas: racing first sets on two fresh replicas — one wins, the other is refused FAILED_PRECONDITION and joins the winner\'s mesh', async (t) => {
    const prefix = `/ccmesh-replicas/${tests++}/`;
    const open = (): Promise<Store> => EtcdStore.open({ endpoints: [etcd.endpoint], prefix });
    // No periodic read: B's only read of `latest` after its start is the first set's check for a history.
    const h = await Harness.create({ openStore: open, historySyncMs: 600_000 });
    t.teardown(() => h.close());
    let rival: (() => Promise<void>) | undefined;
    // B's store lets A's whole first set land right after B found no history (B's read of `latest`).
    const interposing = (inner: Store): Store => ({
      get: async (key) => {
        const got = await inner.get(key);
        const run = key === 'latest' ? rival : undefined;
        if (run) {
          rival = undefined;
          await run();
        }
        return got;
      },
      compareAndSwap: (key, expected, value) => inner.compareAndSwap(key, expected, value),
      list: (p) => inner.list(p),
      watch: (p, l) => inner.watch(p, l),
      close: () => inner.close(),
    });
    const a = await h.start();
    const b = await h.startReplica(interposing(await open()));
    const [ua, ub] = [await PinnedClient.connect(`127.0.0.1:${a.userPort}`, UserApi), await PinnedClient.connect(`127.0.0.1:${b.userPort}`, UserApi)];
    t.teardown(() => {
      ua.close();
      ub.close();
    });
    const docs = [h.coordinatorDoc, h.podDoc];
    const [reqA, reqB] = [await h.signedSet(ua, h.manifest(), docs), await h.signedSet(ub, h.manifest(), docs)];
    let won: SetManifestResponse | undefined;
    rival = async () => {
      won = await ua.call('SetManifest', reqA);
    };
    await refused(t, ub.call('SetManifest', reqB), 'FAILED_PRECONDITION', /the store already holds the root CA of another seed/, 'B, whose check for a history A\'s first set overtook, is refused at the root CA');
    t.ok(won, 'A\'s first set landed in between');
    await eventually(() => b.core.state === 'recovery', 'B sees A\'s history and goes to recovery');
    const { seed, salt } = decryptSeedShare(seedShareFromMessage(won!.seedShares[0]!), h.seedshare.privateKey);
    await ub.call('Recover', await h.recoverRequest(ub, seed, salt));
    const mb = await PinnedClient.connect(`127.0.0.1:${b.meshPort}`, MeshApi);
    t.teardown(() => mb.close());
    t.equal((await mb.call('GetTrustBundle', {})).rootCa, won!.rootCa, 'B, recovered, serves the winner\'s root CA');
    t.same((await ub.call('GetManifests', {})).transitions, [won!.transitionHash], 'the history is the winner\'s one transition');
    t.same(await host.getAll().prefix(`${prefix}state/mesh-ca/`).keys(), [`${prefix}state/mesh-ca/${won!.transitionHash}`], 'the loser left no mesh CA behind');

    // Both sent at once on two more fresh replicas of another store: whichever order they run in, one wins and the
    // other is refused FAILED_PRECONDITION (it found the winner's history, or the winner's root CA).
    const prefix2 = `/ccmesh-replicas/${tests++}/`;
    const open2 = (): Promise<Store> => EtcdStore.open({ endpoints: [etcd.endpoint], prefix: prefix2 });
    const h2 = await Harness.create({ openStore: open2 });
    t.teardown(() => h2.close());
    const [c, d] = [await h2.start(), await h2.startReplica(await open2())];
    const [uc, ud] = [await PinnedClient.connect(`127.0.0.1:${c.userPort}`, UserApi), await PinnedClient.connect(`127.0.0.1:${d.userPort}`, UserApi)];
    t.teardown(() => {
      uc.close();
      ud.close();
    });
    const docs2 = [h2.coordinatorDoc, h2.podDoc];
    const [reqC, reqD] = [await h2.signedSet(uc, h2.manifest(), docs2), await h2.signedSet(ud, h2.manifest(), docs2)];
    const answers = await Promise.all([outcome(uc.call('SetManifest', reqC)), outcome(ud.call('SetManifest', reqD))]);
    t.same([...answers].sort(), ['FAILED_PRECONDITION', 'OK'], `one first set wins, the other is refused FAILED_PRECONDITION (${answers.join(', ')})`);
    const loser = answers[0] === 'OK' ? d : c;
    await eventually(() => loser.core.state === 'recovery', 'the loser goes to recovery');
    t.equal((await host.getAll().prefix(`${prefix2}state/mesh-ca/`).keys()).length, 1, 'one mesh CA in the store: the winner\'s');
  });

  void t.test('replicas: a latest pointer the host writes back, forks or forges is refused by both, and they keep serving', async (t) => {
    const { h, a, b, first, seed, salt, prefix } = await twoReplicas(t);
    const key = `${prefix}latest`;
    const oldPointer = (await host.get(key).buffer())!;
    const extra = withExtraPolicy(h, 'api');
    const set = await a.user.call('SetManifest', await h.signedSet(a.user, extra.manifest, extra.policies));
    await eventually(async () => (await servedManifest(b)) === set.manifestHash, 'B follows the update');
    const newPointer = (await host.get(key).buffer())!;
    const refusals = (r: Replica, reason: string): Promise<number | undefined> => metric(r.c.registry, 'ccmesh_coordinator_history_rollback_refusals_total', { reason });
    const bothKeepServing = async (what: string): Promise<void> => {
      for (const [name, r] of [['A', a], ['B', b]] as const) {
        t.equal(await servedManifest(r), set.manifestHash, `${what}: ${name} still serves the newer manifest`);
        const { request } = await h.podRequest(r.mesh, { hostDataDoc: extra.doc });
        t.equal(await outcome(r.mesh.call('NewMeshCert', request)), 'OK', `${what}: ${name} still issues to the policy only the newer manifest has`);
        t.equal(await probe(r.c, 'readiness'), 200, `${what}: ${name} stays ready`);
        t.equal((await r.user.call('GetManifests', {})).transitions.at(-1), set.transitionHash, `${what}: ${name}'s GetManifests shows the history it serves`);
      }
    };
    for (const r of [a, b]) for (const reason of ['older', 'diverged', 'unverified']) t.equal(await refusals(r, reason), 0, `no ${reason} refusal before`);

    // 1. Rollback: the older, validly signed pointer put back.
    await host.put(key).value(oldPointer);
    await eventually(async () => (await refusals(a, 'older')) === 1 && (await refusals(b, 'older')) === 1, 'both replicas count the rollback');
    await bothKeepServing('rolled back');
    await refused(t, a.user.call('SetManifest', await h.signedSet(a.user, h.manifest(), [h.coordinatorDoc, h.podDoc])), 'FAILED_PRECONDITION',
      /the store's history pointer does not extend what this Coordinator serves/, 'an update is refused while the store is rolled back');

    // 2. A fork: a transition beside the newest, with a validly signed pointer (what a losing writer signed).
    const secrets = deriveSecrets(seed, salt);
    const hostStore = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix });
    t.teardown(() => hostStore.close());
    const history = new History(hostStore);
    const forkManifest = await history.putManifest(canonicalBytesOf(parseManifest(withExtraPolicy(h, 'fork').manifest)));
    const fork = await history.putTransition({ manifestHash: forkManifest, previousTransitionHash: first.transitionHash as TransitionHash });
    await host.put(key).value(Buffer.from(encodeLatest({ transitionHash: fork, signature: signLatest(fork, secrets.historySigningKey) })));
    await eventually(async () => (await refusals(a, 'diverged')) === 1 && (await refusals(b, 'diverged')) === 1, 'both replicas count the fork');
    await bothKeepServing('forked');

    // 3. A forgery: a transition that does extend the newest, under a pointer signed by a key of the host's.
    const forged = await history.putTransition({ manifestHash: forkManifest, previousTransitionHash: set.transitionHash as TransitionHash });
    const hostKey = generateKeyPairSync('ed25519').privateKey;
    await host.put(key).value(Buffer.from(encodeLatest({ transitionHash: forged, signature: signLatest(forged, hostKey) })));
    await eventually(async () => (await refusals(a, 'unverified')) === 1 && (await refusals(b, 'unverified')) === 1, 'both replicas count the forged pointer');
    await bothKeepServing('forged');
    t.equal(await refusals(a, 'older'), 1, 'each refusal was counted once, not at every periodic read');

    // Healing: the newest pointer back in the store; updates work again and are followed.
    await host.put(key).value(newPointer);
    const next = withExtraPolicy(h, 'after');
    await eventually(async () => (await outcome(h.signedSet(a.user, next.manifest, next.policies).then((r) => a.user.call('SetManifest', r)))) === 'OK', 'an update on A succeeds again');
    await eventually(async () => (await b.user.call('GetManifests', {})).manifests.length === 3, 'B follows it');
  });

  void t.test('replicas: etcd stopped — alive, ready and issuing from the verified state; store calls UNAVAILABLE; etcd back — updates resume', async (t) => {
    const { h, a, b } = await twoReplicas(t);
    const served = await servedManifest(b);
    await etcd.pause();
    t.teardown(() => etcd.resume().catch(() => undefined));
    for (const [name, r] of [['A', a], ['B', b]] as const) {
      t.equal(await probe(r.c, 'liveness'), 200, `${name}: liveness does not depend on etcd`);
      t.equal(await probe(r.c, 'readiness'), 200, `${name}: readiness stays 200 — it holds the verified state and can issue`);
      t.equal(await outcome(h.newPodCert(r.mesh)), 'OK', `${name}: NewMeshCert is served from the verified state`);
      t.equal(await servedManifest(r), served, `${name}: GetTrustBundle too`);
    }
    t.equal(await outcome(a.user.call('GetManifests', {})), 'UNAVAILABLE', 'GetManifests (not built yet for this head) needs the store: UNAVAILABLE');
    const extra = withExtraPolicy(h, 'during-outage');
    t.equal(await outcome(h.signedSet(a.user, extra.manifest, extra.policies).then((r) => a.user.call('SetManifest', r))), 'UNAVAILABLE', 'SetManifest needs the store: UNAVAILABLE');
    await eventually(async () => ((await metric(b.c.registry, 'ccmesh_coordinator_history_sync_age_seconds')) ?? 0) > 1, 'B\'s history sync age grows while etcd is down');

    await etcd.resume();
    let after: SetManifestResponse | undefined;
    await eventually(async () => {
      after = await a.user.call('SetManifest', await h.signedSet(a.user, extra.manifest, extra.policies));
      return true;
    }, 'once etcd is back, an update on A succeeds', 40_000);
    await eventually(async () => (await servedManifest(b)) === after!.manifestHash, 'and B serves it', 40_000);
    await eventually(async () => ((await metric(b.c.registry, 'ccmesh_coordinator_history_sync_age_seconds')) ?? 99) < 2, 'B\'s sync age is small again');
    const failedGets = (await a.c.registry.getSingleMetric('ccmesh_coordinator_store_operation_seconds')?.get())?.values
      .find((v) => (v as { metricName?: string }).metricName === 'ccmesh_coordinator_store_operation_seconds_count' && v.labels.op === 'get' && v.labels.result === 'error')?.value ?? 0;
    t.ok(failedGets > 0, `the store reads that failed during the outage were timed as errors (${failedGets})`);
  });
}
