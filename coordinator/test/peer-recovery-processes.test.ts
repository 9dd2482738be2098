/**
 * Peer recovery of real Coordinator processes (issue 17): three `ccmesh coordinator` processes on one real etcd,
 * simulated TEE, each started with `--peers` naming all three mesh APIs (as a StatefulSet's headless Service would).
 *   - The first manifest is set on A; B and C follow it into recovery and recover from A by themselves.
 *   - `kill -9` B and start it again: it recovers from a ready peer by itself and serves the same root CA.
 *   - `kill -9` all three and start them again: they all wait in recovery (readiness 503, GetManifests says why, no
 *     ready peer); after Recover on A (what `ccmesh recover` sends) B and C heal from A and serve the same root CA.
 * Without an etcd binary the file skips with the reason, except as root or under CI, where that fails.
 */
import t from 'tap';
import { join } from 'node:path';
import { decryptSeedShare, seedShareFromMessage } from '../../contract/seed-shares.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { type CoordinatorChild, startCoordinatorProcess } from '../../test/cli-process.js';
import { EtcdServer, etcdOrSkip } from '../../test/support/coordinator/etcd-server.js';
import { Harness } from './harness.js';

async function eventually(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const etcdBin = await etcdOrSkip(t, 'peer recovery of Coordinator processes on etcd');
if (etcdBin !== undefined) {
  const etcd = await EtcdServer.start(etcdBin);
  t.teardown(() => etcd.stop());
  const h = await Harness.create({ platformIsCoordinator: true });
  t.teardown(() => h.close());
  const ports = await freePorts(9);
  const replicas = ['A', 'B', 'C'].map((name, i) => ({ name, user: ports[3 * i]!, mesh: ports[3 * i + 1]!, metrics: ports[3 * i + 2]! }));
  type Replica = (typeof replicas)[number];
  const peers = replicas.map((r) => `127.0.0.1:${r.mesh}`).join(',');
  const running = new Map<string, CoordinatorChild>();
  t.teardown(async () => {
    for (const c of running.values()) await c.stop();
  });

  const start = (r: Replica): void => {
    running.set(r.name, startCoordinatorProcess([
      '--store', `etcd:${etcd.endpoint}`, '--tee', 'simulated', '--sim-dir', join(h.dir, 'platform'), '--listen-host', '127.0.0.1',
      '--user-port', String(r.user), '--mesh-port', String(r.mesh), '--metrics-port', String(r.metrics), '--peers', peers, '--log-level', 'info',
    ]));
  };
  const kill9 = async (r: Replica): Promise<void> => {
    const c = running.get(r.name)!;
    running.delete(r.name);
    if (c.child.exitCode !== null || c.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.child.once('exit', () => resolve());
      c.child.kill('SIGKILL');
    });
  };
  const readiness = async (r: Replica): Promise<number> => (await fetch(`http://127.0.0.1:${r.metrics}/probe/readiness`)).status;
  const ready = (r: Replica) => async () => (await readiness(r)) === 200;
  const rootCa = async (r: Replica): Promise<string> => {
    const mesh = await PinnedClient.connect(`127.0.0.1:${r.mesh}`, MeshApi);
    try {
      return (await mesh.call('GetTrustBundle', {})).rootCa;
    } finally {
      mesh.close();
    }
  };
  const recovered = async (r: Replica): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${r.metrics}/metrics`)).text();
    return Number(/^ccmesh_coordinator_peer_recoveries_total\{result="recovered"[^}]*\} (\d+)/m.exec(text)?.[1] ?? NaN);
  };
  const withUser = async <T>(r: Replica, fn: (user: PinnedClient<typeof UserApi extends { methods?: infer M } ? M : never>) => Promise<T>): Promise<T> => {
    const user = await PinnedClient.connect(`127.0.0.1:${r.user}`, UserApi);
    try {
      return await fn(user);
    } finally {
      user.close();
    }
  };
  const [a, b, c] = replicas as [Replica, Replica, Replica];

  void t.test('three Coordinator processes: B and C recover from A by themselves; kill -9 B: it recovers from a peer again', async (t) => {
    for (const r of replicas) start(r);
    for (const r of replicas) await eventually(async () => (await fetch(`http://127.0.0.1:${r.metrics}/probe/liveness`)).status === 200, `${r.name} is alive`);
    const first = await withUser(a, async (user) => user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc])));
    for (const r of [b, c]) await eventually(ready(r), `${r.name} recovered from a peer and is ready`);
    for (const r of replicas) t.equal(await rootCa(r), first.rootCa, `${r.name} serves the root CA of the first set`);
    for (const r of [b, c]) t.equal(await recovered(r), 1, `${r.name} counts one peer recovery`);

    await kill9(b);
    start(b);
    await eventually(ready(b), 'B, restarted after kill -9, recovered by itself');
    t.equal(await rootCa(b), first.rootCa, 'B serves the same root CA');
    t.equal(await recovered(b), 1, 'through peer recovery');
    const mesh = await PinnedClient.connect(`127.0.0.1:${b.mesh}`, MeshApi);
    t.teardown(() => mesh.close());
    const { res } = await h.newPodCert(mesh);
    t.equal(res.rootCa, first.rootCa, 'and issues pods leaves under it');

    void t.test('all three kill -9ed and restarted: they wait in recovery until Recover on A, then B and C heal from A', async (t) => {
      for (const r of replicas) await kill9(r);
      for (const r of replicas) start(r);
      for (const r of replicas) {
        await eventually(async () => withUser(r, async (user) => (await user.call('GetManifests', {})).recoveryStatus.startsWith('waiting for a ready peer')), `${r.name} looks for peers`);
      }
      for (const r of replicas) {
        const status = await withUser(r, (user) => user.call('GetManifests', {}));
        t.equal(status.state, 'COORDINATOR_STATE_RECOVERY', `${r.name} is in recovery`);
        t.equal(status.readyPeers, 0, `${r.name} sees no ready peer`);
        t.match(status.recoveryStatus, /0 of 3 peer addresses ready/, `${r.name} says so`);
        t.equal(await readiness(r), 503, `${r.name} is not ready`);
        t.equal((await fetch(`http://127.0.0.1:${r.metrics}/probe/liveness`)).status, 200, `${r.name} is alive`);
      }
      const { seed, salt } = decryptSeedShare(seedShareFromMessage(first.seedShares[0]!), h.seedshare.privateKey);
      await withUser(a, async (user) => user.call('Recover', await h.recoverRequest(user, seed, salt)));
      t.equal(await readiness(a), 200, 'A is ready after Recover');
      for (const r of [b, c]) await eventually(ready(r), `${r.name} healed from A`, 60_000);
      for (const r of replicas) t.equal(await rootCa(r), first.rootCa, `${r.name} serves the same root CA`);
      for (const r of [b, c]) t.equal(await recovered(r), 1, `${r.name} recovered through a peer`);
    });
  });
}
