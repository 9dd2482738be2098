/**
 * Coordinator replicas as real processes on a real 3-member etcd cluster (issue 17, "Done when"): three
 * `ccmesh coordinator` processes (simulated TEE) with `--store` naming all three etcd members and `--peers` naming
 * all three mesh APIs (as a StatefulSet's headless Service would), driven by the operator's real CLI where the
 * operator acts (`ccmesh set`, `ccmesh recover`). One line of steps, each a subtest:
 *   1. `ccmesh set` on A; B and C follow into recovery and recover from A by themselves; B and C issue leaves under
 *      the root CA of the set.
 *   2. `kill -9` B and start it again: it recovers from a ready peer by itself and serves the same root CA.
 *   3. The etcd leader stopped: every replica stays ready and issues; an update set on B succeeds and A and C
 *      follow it (they issue to the policy only the update has); the member back, it catches up.
 *   4. Concurrent SetManifest on A and C: a loser is refused ABORTED (the documented status of a lost
 *      compare-and-swap, docs/protocol.md), at least one round is a real race, the history stays one chain.
 *   5. The host puts an older, validly signed `latest` back while all three run: each refuses it (logged, counted in
 *      ccmesh_coordinator_history_rollback_refusals_total{reason="older"}), keeps serving and refuses updates with
 *      FAILED_PRECONDITION; the newest pointer back, updates work again.
 *   6. All three `kill -9`ed and started at once: they wait in recovery (no ready peer) until `ccmesh recover` on A;
 *      then B and C heal from A by themselves and serve the same root CA.
 * Without an etcd binary the file skips with the reason, except as root or under CI, where that fails.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { request } from 'undici';
import { freePorts } from '../../lib/net/free-ports.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, SetManifestResponse, UserApiMethods } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { CCMESH_BIN, type CoordinatorChild, startCoordinatorProcess } from '../../test/cli-process.js';
import { EtcdCluster, type EtcdServer, etcdOrSkip } from '../../test/support/coordinator/etcd-server.js';
import { DEFAULT_ETCD_PREFIX } from '../store/etcd-store.js';
import { Harness, sha256hex } from './harness.js';

async function eventually(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One GET on a fresh connection (a pooled one may belong to a process killed meanwhile). */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
  return { status: res.statusCode, body: await res.body.text() };
}

/** The gRPC status name of a refused call ("ABORTED"), or "OK". */
async function outcome(call: Promise<unknown>): Promise<string> {
  return call.then(() => 'OK', (err: unknown) => /^\w+: ([A-Z_]+): /.exec(err instanceof Error ? err.message : '')?.[1] ?? `unexpected: ${String(err)}`);
}

/** Runs the real CLI; resolves with its exit code and output. */
function ccmesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CCMESH_BIN, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const certs = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? []).map((c) => new X509Certificate(c));

const etcdBin = await etcdOrSkip(t, 'Coordinator replica processes on a 3-member etcd cluster');
if (etcdBin !== undefined) {
  const cluster = await EtcdCluster.start(etcdBin, 3, { namePrefix: 'ccmesh-etcdtest' });
  t.teardown(() => cluster.stop());
  // The host's own view of etcd: it runs the cluster and can read and write the Coordinators' keys.
  const host = new Etcd3({ hosts: cluster.endpoints });
  t.teardown(() => host.close());
  const latestKey = `${DEFAULT_ETCD_PREFIX}latest`;

  const h = await Harness.create({ platformIsCoordinator: true });
  t.teardown(() => h.close());
  // The owner's workspace, as `ccmesh manifest init` would leave it, with the harness's keys and policy documents.
  const ws = join(h.dir, 'workspace');
  mkdirSync(join(ws, 'keys'), { recursive: true });
  mkdirSync(join(ws, 'policies'));
  writeFileSync(join(ws, 'keys', 'workload-owner.pem'), h.owner.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(join(ws, 'keys', 'seedshare-owner.pem'), h.seedshare.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), h.coordinatorDoc);
  writeFileSync(join(ws, 'policies', 'web.rego'), h.podDoc);
  writeFileSync(join(ws, 'manifest.json'), h.manifest());

  const ports = await freePorts(9);
  const replicas = ['A', 'B', 'C'].map((name, i) => ({ name, user: ports[3 * i]!, mesh: ports[3 * i + 1]!, metrics: ports[3 * i + 2]! }));
  type Replica = (typeof replicas)[number];
  const [a, b, c] = replicas as [Replica, Replica, Replica];
  const peers = replicas.map((r) => `127.0.0.1:${r.mesh}`).join(',');
  const store = `etcd:${cluster.endpoints.join(',')}`;
  const running = new Map<string, CoordinatorChild>();
  t.teardown(async () => {
    for (const child of running.values()) await child.stop();
  });

  const start = (r: Replica): void => {
    running.set(r.name, startCoordinatorProcess([
      '--store', store, '--tee', 'simulated', '--sim-dir', join(h.dir, 'platform'), '--listen-host', '127.0.0.1',
      '--user-port', String(r.user), '--mesh-port', String(r.mesh), '--metrics-port', String(r.metrics), '--peers', peers, '--log-level', 'info',
    ]));
  };
  const kill9 = async (r: Replica): Promise<void> => {
    const child = running.get(r.name)!.child;
    running.delete(r.name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  };
  const readiness = async (r: Replica): Promise<number> => (await get(r.metrics, '/probe/readiness')).status;
  const ready = (r: Replica) => async () => (await readiness(r)) === 200;
  const metric = async (r: Replica, name: string, label: string): Promise<number> => {
    const text = (await get(r.metrics, '/metrics')).body;
    return Number(new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  };
  const withUser = async <T>(r: Replica, fn: (user: PinnedClient<UserApiMethods>) => Promise<T>): Promise<T> => {
    const user = await PinnedClient.connect(`127.0.0.1:${r.user}`, UserApi);
    try {
      return await fn(user);
    } finally {
      user.close();
    }
  };
  const withMesh = async <T>(r: Replica, fn: (mesh: PinnedClient<MeshApiMethods>) => Promise<T>): Promise<T> => {
    const mesh = await PinnedClient.connect(`127.0.0.1:${r.mesh}`, MeshApi);
    try {
      return await fn(mesh);
    } finally {
      mesh.close();
    }
  };
  const trustBundle = (r: Replica) => withMesh(r, (mesh) => mesh.call('GetTrustBundle', {}));
  const history = (r: Replica) => withUser(r, (user) => user.call('GetManifests', {}));
  /** NewMeshCert on `r` for the web pod (or the pod of `doc`): the outcome, and the leaf chain when issued. */
  const issue = (r: Replica, doc?: Uint8Array) => withMesh(r, async (mesh) => {
    const { request: req } = await h.podRequest(mesh, doc ? { hostDataDoc: doc } : {});
    return mesh.call('NewMeshCert', req).then((res) => ({ outcome: 'OK', res }), async (err: unknown) => ({ outcome: await outcome(Promise.reject(err)), res: undefined }));
  });
  /** A manifest with one more policy than the harness's, and the documents a set of it sends. */
  const withExtraPolicy = (name: string) => {
    const doc = new Uint8Array(Buffer.from(`pod ${name} policy`));
    return { doc, manifest: h.manifest([sha256hex(doc)]), policies: [h.coordinatorDoc, h.podDoc, doc] };
  };
  const update = (r: Replica, m: ReturnType<typeof withExtraPolicy>): Promise<SetManifestResponse> => withUser(r, async (user) => user.call('SetManifest', await h.signedSet(user, m.manifest, m.policies)));

  let rootCa = '';
  let firstPointer: Buffer | undefined;
  /** The newest manifest set (the workspace's manifest.json must be it for `ccmesh recover`). */
  let newest = { manifest: h.manifest(), hash: '' };

  void t.test('1. ccmesh set on A; B and C recover from A by themselves and issue under the same root CA', async (t) => {
    for (const r of replicas) start(r);
    for (const r of replicas) await eventually(async () => (await get(r.metrics, '/probe/liveness')).status === 200, `${r.name} is alive`);
    const set = await ccmesh('set', '-c', `127.0.0.1:${a.user}`, '--dir', ws);
    if (set.code !== 0) t.comment(set.stderr + set.stdout);
    t.equal(set.code, 0, 'ccmesh set on A exits 0');
    rootCa = readFileSync(join(ws, 'root-ca.pem'), 'utf8');
    const root = new X509Certificate(rootCa);
    newest = { manifest: h.manifest(), hash: (await trustBundle(a)).manifestHash };
    firstPointer = (await host.get(latestKey).buffer()) ?? undefined;
    t.ok(firstPointer, 'the first set wrote latest to etcd');
    for (const r of [b, c]) await eventually(ready(r), `${r.name} recovered from a peer and is ready`);
    for (const r of replicas) t.equal((await trustBundle(r)).rootCa, rootCa, `${r.name} serves the root CA the set wrote to the workspace`);
    for (const r of [b, c]) {
      t.equal(await metric(r, 'ccmesh_coordinator_peer_recoveries_total', 'result="recovered"'), 1, `${r.name} counts one peer recovery`);
      const { outcome: o, res } = await issue(r);
      t.equal(o, 'OK', `${r.name} issues the web pod a leaf`);
      const [leaf, meshCa] = certs(res?.certChain ?? '');
      t.ok(leaf && meshCa && leaf.verify(meshCa.publicKey) && meshCa.verify(root.publicKey), `${r.name}'s leaf chains to the root CA of the set`);
    }
  });

  void t.test('2. kill -9 B and start it again: it recovers from a peer by itself and serves the same root CA', async (t) => {
    await kill9(b);
    start(b);
    await eventually(async () => (await get(b.metrics, '/probe/liveness')).status === 200, 'B is alive again');
    await eventually(ready(b), 'B, restarted after kill -9, recovered by itself');
    t.equal((await trustBundle(b)).rootCa, rootCa, 'B serves the same root CA');
    t.equal(await metric(b, 'ccmesh_coordinator_peer_recoveries_total', 'result="recovered"'), 1, 'through peer recovery');
    const { outcome: o, res } = await issue(b);
    t.equal(o, 'OK', 'B issues again');
    t.equal(res?.rootCa, rootCa, 'under the same root CA');
  });

  void t.test('3. the etcd leader stopped: issuance goes on everywhere, an update on B succeeds and A and C follow', async (t) => {
    const status = async (m: EtcdServer): Promise<{ id: string; leader: string }> => {
      const client = new Etcd3({ hosts: m.endpoint });
      try {
        const s = await client.maintenance.status();
        return { id: s.header.member_id, leader: s.leader };
      } finally {
        client.close();
      }
    };
    const statuses = await Promise.all(cluster.members.map(status));
    const leaderAt = statuses.findIndex((s) => s.id === s.leader);
    t.ok(leaderAt >= 0, `one member is the leader (${leaderAt})`);
    const leader = cluster.members[leaderAt]!;
    await leader.pause();
    t.teardown(() => (leader.running ? undefined : leader.resume().catch(() => undefined)));
    const others = cluster.members.filter((m) => m !== leader);
    await eventually(async () => {
      const now = await Promise.all(others.map(status));
      return now.every((s) => s.leader !== '0' && s.leader !== statuses[leaderAt]!.id && s.leader === now[0]!.leader);
    }, 'the two remaining members elected a new leader', 30_000);

    for (const r of replicas) {
      t.equal(await readiness(r), 200, `${r.name} stays ready`);
      t.equal((await issue(r)).outcome, 'OK', `${r.name} issues with one etcd member down`);
    }
    const m2 = withExtraPolicy('one-member-down');
    const set = await update(b, m2);
    t.equal(set.rootCa, rootCa, 'the update on B, with one etcd member down, succeeded under the same root');
    newest = { manifest: m2.manifest, hash: set.manifestHash };
    for (const r of [a, c]) {
      await eventually(async () => (await trustBundle(r)).manifestHash === set.manifestHash, `${r.name} follows B's update`, 30_000);
      t.equal((await issue(r, m2.doc)).outcome, 'OK', `${r.name} issues to the policy only the update has`);
    }

    await leader.resume();
    t.ok(leader.running, 'the stopped member is back');
    // The member back, the cluster keeps serving: an update on C, followed by A and B.
    const m3 = withExtraPolicy('member-back');
    const again = await update(c, m3);
    newest = { manifest: m3.manifest, hash: again.manifestHash };
    for (const r of [a, b]) await eventually(async () => (await trustBundle(r)).manifestHash === again.manifestHash, `${r.name} follows C's update`, 30_000);
    const back = new Etcd3({ hosts: leader.endpoint });
    t.teardown(() => back.close());
    await eventually(async () => Buffer.compare((await back.get(latestKey).buffer())!, (await host.get(latestKey).buffer())!) === 0, 'the restarted member holds the newest latest', 30_000);
  });

  void t.test('4. concurrent SetManifest on A and C: each loser is ABORTED, the history stays one chain', async (t) => {
    let chain = (await history(a)).transitions;
    let contested = 0;
    let round = 0;
    // A round may serialise (the second request is handled after its replica followed the first: both succeed, in a
    // line). Rounds go on until one was a real race (at most 8); every round is checked.
    while (contested === 0 && round < 8) {
      const ma = withExtraPolicy(`race-a${round}`);
      const mc = withExtraPolicy(`race-c${round}`);
      const [ua, uc] = [await PinnedClient.connect(`127.0.0.1:${a.user}`, UserApi), await PinnedClient.connect(`127.0.0.1:${c.user}`, UserApi)];
      try {
        const [ra, rc] = [await h.signedSet(ua, ma.manifest, ma.policies), await h.signedSet(uc, mc.manifest, mc.policies)];
        const answers: (SetManifestResponse | string)[] = await Promise.all([
          ua.call('SetManifest', ra).catch((err: unknown) => outcome(Promise.reject(err))),
          uc.call('SetManifest', rc).catch((err: unknown) => outcome(Promise.reject(err))),
        ]);
        const wins = answers.filter((x): x is SetManifestResponse => typeof x !== 'string');
        const losses = answers.filter((x): x is string => typeof x === 'string');
        t.ok(wins.length >= 1, `round ${round}: at least one update wins`);
        t.same(losses, losses.map(() => 'ABORTED'), `round ${round}: a loser is refused ABORTED`);
        if (wins.length === 1) contested++;
        await eventually(async () => {
          const all = await Promise.all(replicas.map(history));
          return all.every((x) => x.transitions.length === chain.length + wins.length && x.transitions.join() === all[0]!.transitions.join());
        }, `round ${round}: all three replicas hold the same history`, 30_000);
        const now = (await history(b)).transitions;
        t.same(now.slice(0, chain.length), chain, `round ${round}: the history only grew`);
        t.same(new Set(now.slice(chain.length)), new Set(wins.map((w) => w.transitionHash)), `round ${round}: by exactly the winners' transitions`);
        chain = now;
        const lastIsA = typeof answers[0] !== 'string' && answers[0]!.transitionHash === now.at(-1);
        const last = (lastIsA ? answers[0] : answers[1]) as SetManifestResponse;
        newest = { manifest: lastIsA ? ma.manifest : mc.manifest, hash: last.manifestHash };
      } finally {
        ua.close();
        uc.close();
      }
      round++;
    }
    t.equal(contested, 1, `a round was a real race: one won, the other was ABORTED (after ${round} round(s))`);
  });

  void t.test('5. an older latest put back in etcd while all three run: refused, reported and counted; the newest back heals', async (t) => {
    const newestPointer = (await host.get(latestKey).buffer())!;
    const served = newest.hash;
    const older = (r: Replica) => metric(r, 'ccmesh_coordinator_history_rollback_refusals_total', 'reason="older"');
    for (const r of replicas) t.equal(await older(r), 0, `${r.name}: no refusal before`);
    await host.put(latestKey).value(firstPointer!);
    for (const r of replicas) await eventually(async () => (await older(r)) === 1, `${r.name} counts the rollback`, 30_000);
    for (const r of replicas) {
      t.match(running.get(r.name)!.stderr(), /refused the store's history pointer/, `${r.name} logs the refusal`);
      t.equal((await trustBundle(r)).manifestHash, served, `${r.name} still serves the newest manifest`);
      t.equal(await readiness(r), 200, `${r.name} stays ready`);
      t.equal((await issue(r)).outcome, 'OK', `${r.name} still issues`);
    }
    const m = withExtraPolicy('while-rolled-back');
    t.equal(await outcome(update(a, m)), 'FAILED_PRECONDITION', 'an update is refused while the store is rolled back');

    await host.put(latestKey).value(newestPointer);
    let healed: SetManifestResponse | undefined;
    await eventually(async () => {
      healed = await update(a, m);
      return true;
    }, 'with the newest pointer back, an update on A succeeds again', 30_000);
    newest = { manifest: m.manifest, hash: healed!.manifestHash };
    for (const r of [b, c]) await eventually(async () => (await trustBundle(r)).manifestHash === healed!.manifestHash, `${r.name} follows it`, 30_000);
    for (const r of replicas) t.equal(await older(r), 1, `${r.name} counted the rollback once`);
  });

  void t.test('6. all three kill -9ed and started at once: they wait in recovery until ccmesh recover on A, then B and C heal from A', async (t) => {
    for (const r of replicas) await kill9(r);
    for (const r of replicas) start(r);
    for (const r of replicas) await eventually(async () => (await history(r)).recoveryStatus.startsWith('waiting for a ready peer'), `${r.name} looks for peers`);
    for (const r of replicas) {
      const status = await history(r);
      t.equal(status.state, 'COORDINATOR_STATE_RECOVERY', `${r.name} is in recovery`);
      t.equal(status.readyPeers, 0, `${r.name} sees no ready peer`);
      t.match(status.recoveryStatus, /0 of 3 peer addresses ready/, `${r.name} says so`);
      t.equal(await readiness(r), 503, `${r.name} is not ready`);
      t.equal((await get(r.metrics, '/probe/liveness')).status, 200, `${r.name} is alive`);
    }
    // The operator's workspace holds the newest manifest (the updates above were set with its owner key).
    writeFileSync(join(ws, 'manifest.json'), newest.manifest);
    const recover = await ccmesh('recover', '-c', `127.0.0.1:${a.user}`, '--dir', ws);
    if (recover.code !== 0) t.comment(recover.stderr + recover.stdout);
    t.equal(recover.code, 0, 'ccmesh recover on A exits 0');
    t.match(recover.stdout, /recovered and ready/, 'ccmesh recover says A is ready');
    t.equal(await readiness(a), 200, 'A is ready');
    for (const r of [b, c]) await eventually(ready(r), `${r.name} healed from A`);
    for (const r of replicas) {
      const bundle = await trustBundle(r);
      t.equal(bundle.rootCa, rootCa, `${r.name} serves the same root CA`);
      t.equal(bundle.manifestHash, newest.hash, `${r.name} serves the newest manifest`);
    }
    for (const r of [b, c]) {
      t.equal(await metric(r, 'ccmesh_coordinator_peer_recoveries_total', 'result="recovered"'), 1, `${r.name} recovered through a peer`);
      t.equal((await issue(r)).outcome, 'OK', `${r.name} issues again`);
    }
  });
}
