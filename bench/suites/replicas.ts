/**
 * Coordinator replicas on one etcd cluster (issue 17): a 3-member etcd cluster on loopback (Debian's `etcd`, or
 * `$CCMESH_ETCD`), Coordinator replicas as separate processes (`bench/replicas/replica.ts`, simulated TEE), and
 *   - NewMeshCert throughput against 1 replica, then spread over 3 replicas (16 requests in flight per replica;
 *     evidence and nonces are prepared before each timed round, as in the coordinator suite). CPU µs/op is the
 *     replicas' own CPU time (from /proc) per issued leaf, not the load generator's.
 *   - the time from a replica's restart to ready: one replica is killed (SIGKILL) and the real
 *     `ccmesh coordinator --peers …` started in its place while the other two are ready; measured from the spawn to
 *     `/probe/liveness` (process up, store opened, APIs listening) and to `/probe/readiness` 200 (it recovered the
 *     seed from a peer and verified it against the signed history).
 * Without an etcd binary the suite is skipped with the reason.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { toWireEvidence } from '../../attestation/issuers/wire-evidence.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { meshCertReportData } from '../../lib/protocol/binding.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, NewMeshCertRequest } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { signedSetManifestRequest } from '../../lib/protocol/signed-set.js';
import type { Measurement, MeasureOptions } from '../measure.js';
import { type ManagedProcess, startProcess } from '../proxy/processes.js';
import { sampleCost } from '../proxy/proc-stat.js';
import type { BenchReplicaConfig } from '../replicas/replica.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const REPLICA_JS = join(here, '..', 'replicas', 'replica.js');
const CCMESH_BIN = resolve(here, '..', '..', '..', 'bin', 'ccmesh');
const IN_FLIGHT_PER_REPLICA = 16;

/** Restart-to-ready timings, milliseconds. */
export interface RestartTimings {
  readonly samples: number;
  /** Spawn → /probe/liveness 200, per sample. */
  readonly aliveMs: readonly number[];
  /** Spawn → /probe/readiness 200 (peer recovery done), per sample. */
  readonly readyMs: readonly number[];
}

/** What the suite measured, or why it did not run. */
export type ReplicasResult = { readonly skipped: string } | { readonly etcd: string; readonly rates: readonly Measurement[]; readonly restart: RestartTimings };

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The etcd binary, or undefined. */
function findEtcd(): { bin: string; version: string } | undefined {
  for (const bin of [process.env.CCMESH_ETCD, 'etcd', '/usr/bin/etcd'].filter((b): b is string => Boolean(b))) {
    try {
      return { bin, version: execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '' };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** GET status of 127.0.0.1:port/path on a fresh connection; 0 when nothing answers. */
async function status(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000), headers: { connection: 'close' } });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function until(what: string, ms: number, cond: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}`);
}

/** Runs the suite; `perRound` requests per timed round, `restarts` restart samples. */
export async function runReplicasSuite(opts: MeasureOptions, perRound: number, restarts: number, log: (line: string) => void): Promise<ReplicasResult> {
  const etcd = findEtcd();
  if (!etcd) return { skipped: 'no etcd binary (Debian: apt-get install etcd-server; or set CCMESH_ETCD)' };
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-bench-replicas-'));
  const procs: ManagedProcess[] = [];
  const clients: { close(): void }[] = [];
  try {
    // The etcd cluster: three members on loopback, started together.
    const ep = await freePorts(6);
    const members = [0, 1, 2].map((i) => ({ name: `bench-etcd-${i}`, client: `http://127.0.0.1:${ep[2 * i]!}`, peer: `http://127.0.0.1:${ep[2 * i + 1]!}` }));
    const initial = members.map((m) => `${m.name}=${m.peer}`).join(',');
    for (const m of members) {
      procs.push(startProcess(m.name, etcd.bin, [
        `--name=${m.name}`, `--data-dir=${join(dir, m.name)}`, `--listen-client-urls=${m.client}`, `--advertise-client-urls=${m.client}`,
        `--listen-peer-urls=${m.peer}`, `--initial-advertise-peer-urls=${m.peer}`, `--initial-cluster=${initial}`, '--initial-cluster-state=new',
        '--log-level=warn', '--logger=zap',
      ], join(dir, `${m.name}.log`)));
    }
    const endpoints = members.map((m) => m.client);
    const probe = new Etcd3({ hosts: endpoints });
    clients.push(probe);
    await until('the etcd cluster has a leader', 30_000, async () => (await probe.maintenance.status()).leader !== '0', 200);
    log(`  etcd cluster of 3 up (${etcd.version})`);

    // The mesh: a simulated platform whose own HOST_DATA is the coordinator policy, and a manifest for one pod policy.
    const coordinatorDoc = 'coordinator', podDoc = 'pod';
    const platform = await initSimulatedPlatform(join(dir, 'platform'), { rsaBits: 2048, hostData: Buffer.from(sha(coordinatorDoc), 'hex') });
    const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const seedshare = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const hex = (k: KeyObject): string => Buffer.from(k.export({ type: 'spki', format: 'der' })).toString('hex');
    const manifest = Buffer.from(JSON.stringify(buildManifestDocument({
      workloadOwnerKeys: [hex(owner.publicKey)], seedshareOwnerKeys: [hex(seedshare.publicKey)], simulatedArkPem: platform.ark.toString(),
      simulatedSnp: { measurements: [platform.config.measurement] },
      policies: [{ policyHash: sha(coordinatorDoc), role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' }, { policyHash: sha(podDoc), sans: ['web'], workloadSecretId: 'web' }],
    })));

    const rp = await freePorts(9);
    const replicas = [0, 1, 2].map((i) => ({ userPort: rp[3 * i]!, meshPort: rp[3 * i + 1]!, metricsPort: rp[3 * i + 2]! }));
    const peers = replicas.map((r) => `127.0.0.1:${r.meshPort}`);
    const running: (ManagedProcess | undefined)[] = [undefined, undefined, undefined];
    const startReplica = (i: number): ManagedProcess => {
      const cfg: BenchReplicaConfig = { endpoints, simDir: join(dir, 'platform'), peers, ...replicas[i]! };
      const p = startProcess(`replica-${i}`, process.execPath, [REPLICA_JS, JSON.stringify(cfg)], join(dir, `replica-${i}.log`));
      procs.push(p);
      running[i] = p;
      return p;
    };
    const ready = (i: number) => async () => (await status(replicas[i]!.metricsPort, '/probe/readiness')) === 200;

    startReplica(0);
    await until('replica 0 is alive', 30_000, async () => (await status(replicas[0]!.metricsPort, '/probe/liveness')) === 200);
    const user = await PinnedClient.connect(`127.0.0.1:${replicas[0]!.userPort}`, UserApi);
    clients.push(user);
    await user.call('SetManifest', await signedSetManifestRequest(user, manifest, [Buffer.from(coordinatorDoc), Buffer.from(podDoc)], owner.privateKey));
    const meshes: PinnedClient<MeshApiMethods>[] = [];
    const mesh = async (i: number): Promise<PinnedClient<MeshApiMethods>> => {
      if (!meshes[i]) {
        meshes[i] = await PinnedClient.connect(`127.0.0.1:${replicas[i]!.meshPort}`, MeshApi);
        clients.push(meshes[i]);
      }
      return meshes[i];
    };

    const podIssuer = new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha(podDoc), 'hex') });
    /** `n` ready requests for replica `i` (its nonces, bound to its TLS key). */
    const prepare = async (i: number, n: number): Promise<NewMeshCertRequest[]> => {
      const client = await mesh(i);
      const out: NewMeshCertRequest[] = [];
      for (let k = 0; k < n; k++) {
        const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
        const nonce = await client.nonce();
        out.push({ evidence: toWireEvidence(await podIssuer.issue(meshCertReportData(spki, nonce, client.spki))), publicKey: spki, nonce });
      }
      return out;
    };
    /** Timed rounds of `perRound` NewMeshCert spread evenly over `count` replicas. */
    const timed = async (count: number, scenario: string): Promise<Measurement> => {
      const ids = Array.from({ length: count }, (_, i) => i);
      const share = Math.ceil(perRound / count);
      const fire = async (batches: NewMeshCertRequest[][]): Promise<void> => {
        await Promise.all(ids.flatMap((i) => {
          const batch = batches[i]!;
          let next = 0;
          return Array.from({ length: IN_FLIGHT_PER_REPLICA }, async () => {
            while (next < batch.length) await meshes[i]!.call('NewMeshCert', batch[next++]!);
          });
        }));
      };
      await fire(await Promise.all(ids.map((i) => prepare(i, Math.min(100, share))))); // warm-up
      const rates: number[] = [];
      const cpus: number[] = [];
      for (let r = 0; r < opts.rounds; r++) {
        const batches = await Promise.all(ids.map((i) => prepare(i, share)));
        const pids = ids.map((i) => running[i]!.pid);
        const cpu0 = sampleCost(pids).cpuSeconds;
        const t0 = performance.now();
        await fire(batches);
        const ms = performance.now() - t0;
        const cpu = sampleCost(pids).cpuSeconds - cpu0;
        rates.push((share * count * 1000) / ms);
        cpus.push((cpu * 1e6) / (share * count));
      }
      const sorted = [...rates].sort((a, b) => a - b);
      return {
        suite: 'replicas', scenario, unit: 'ops/s', median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)!,
        rounds: opts.rounds, cpuMicrosPerOp: [...cpus].sort((a, b) => a - b)[Math.floor(cpus.length / 2)]!,
        notes: `${IN_FLIGHT_PER_REPLICA} in flight per replica; CPU = the replicas' own`,
      };
    };

    await mesh(0);
    log('  NewMeshCert, 1 replica…');
    const one = await timed(1, 'NewMeshCert over gRPC, 1 replica (etcd cluster of 3)');
    startReplica(1);
    startReplica(2);
    for (const i of [1, 2]) await until(`replica ${i} recovered from replica 0`, 60_000, ready(i));
    log('  NewMeshCert, 3 replicas…');
    const three = await timed(3, 'NewMeshCert over gRPC, 3 replicas (etcd cluster of 3), spread evenly');

    // Restart to ready: replica 2 killed, the real `ccmesh coordinator` started in its place; 0 and 1 stay ready.
    log(`  restart to ready, ${restarts} samples…`);
    const aliveMs: number[] = [];
    const readyMs: number[] = [];
    const r2 = replicas[2]!;
    for (let s = 0; s < restarts; s++) {
      const old = running[2]!;
      process.kill(old.pid, 'SIGKILL');
      await old.exited;
      const t0 = performance.now();
      const p = startProcess('ccmesh-coordinator', process.execPath, [CCMESH_BIN, 'coordinator', '--store', `etcd:${endpoints.join(',')}`, '--tee', 'simulated',
        '--sim-dir', join(dir, 'platform'), '--listen-host', '127.0.0.1', '--user-port', String(r2.userPort), '--mesh-port', String(r2.meshPort),
        '--metrics-port', String(r2.metricsPort), '--peers', peers.join(','), '--log-level', 'warn'], join(dir, 'ccmesh-coordinator.log'));
      procs.push(p);
      running[2] = p;
      let alive: number | undefined;
      await until('the restarted replica is ready', 60_000, async () => {
        alive ??= (await status(r2.metricsPort, '/probe/liveness')) === 200 ? performance.now() - t0 : undefined;
        return alive !== undefined && (await ready(2)());
      }, 20);
      readyMs.push(performance.now() - t0);
      aliveMs.push(alive!);
      await sleep(500);
    }
    return { etcd: etcd.version, rates: [one, three], restart: { samples: restarts, aliveMs, readyMs } };
  } finally {
    for (const c of clients) c.close();
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The suite's Markdown section body (the rates table comes from the shared renderer). */
export function renderRestartMarkdown(r: RestartTimings): string {
  const stats = (xs: readonly number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `${Math.round(s[Math.floor(s.length / 2)]!)} ms (${Math.round(s[0]!)}–${Math.round(s.at(-1)!)} ms)`;
  };
  return [
    `Restart to ready (one replica SIGKILLed, \`ccmesh coordinator --peers …\` started in its place, the other two ready; ${r.samples} samples, median and range):`,
    '',
    `- spawn → \`/probe/liveness\` 200 (process up, etcd opened, APIs listening): ${stats(r.aliveMs)}`,
    `- spawn → \`/probe/readiness\` 200 (seed received from a peer, verified against the signed history): ${stats(r.readyMs)}`,
    `- of which liveness → readiness (peer recovery itself): ${stats(r.readyMs.map((ms, i) => ms - r.aliveMs[i]!))}`,
    '',
  ].join('\n');
}
