/**
 * The proxy benchmark: a test PKI, one app server, every available implementation started side by side on the
 * server CPUs and checked, then for each scenario a warm-up per implementation and repetitions that alternate
 * implementations run by run (A B C A B C) so machine drift hits all of them equally. Everything started is
 * stopped in `finally`, whatever fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerAdapter, RunningPeer, SidecarPid } from '../peers/peer.js';
import { type LoadResult, runLoad } from './load.js';
import { checkPeer } from './mtls-check.js';
import { holdConnections } from './open-connections.js';
import { generateTestPki, type TestPki } from './pki.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { allocatePeerPorts } from './ports.js';
import { processTree, sampleCost } from './proc-stat.js';
import type { Scenario } from './scenarios.js';
import { startUpstream, type Upstream } from './upstream.js';

/** How long and how often to measure, and where to run what. */
export interface ProxyBenchSettings {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly repetitions: number;
  /** CPUs for the app server and the sidecars (taskset list), and for the load generator. */
  readonly serverCpus?: string;
  readonly loadCpus?: string;
}

/** The state of one implementation in this run. */
export interface PeerStatus {
  readonly name: string;
  readonly state: 'measured' | 'skipped' | 'failed';
  readonly version?: string;
  readonly reason?: string;
  /** RSS per sidecar before any load, bytes. */
  readonly idleRss?: { readonly egress: number; readonly ingress: number };
  /** RSS per sidecar of a freshly started pair, idle and then with {@link OPEN_CONNECTIONS} idle connections open. */
  readonly openRss?: OpenConnectionsRss;
}

/** Memory per open connection of one implementation (bytes). */
export interface OpenConnectionsRss {
  /** Connections that completed their request and were held open. */
  readonly connections: number;
  readonly failed: number;
  /** The fresh pair before any connection. */
  readonly idle: { readonly egress: number; readonly ingress: number };
  readonly egress: number;
  readonly ingress: number;
}

/** How many idle connections the memory-per-connection measurement holds open (issue 6). */
export const OPEN_CONNECTIONS = 1000;

/** Cost of one sidecar during one run. */
export interface SidecarCost {
  readonly role: SidecarPid['role'];
  readonly cpuSeconds: number;
  readonly rssMaxBytes: number;
}

/** One measured run. */
export interface ProxyRunRecord {
  readonly scenario: string;
  readonly peer: string;
  readonly rep: number;
  readonly load: LoadResult;
  readonly sidecars: readonly SidecarCost[];
  /** CPU seconds of all sidecars per 10 000 requests; absent for the direct path. */
  readonly cpuSecondsPer10k?: number;
}

/** Everything the proxy benchmark measured. */
export interface ProxyBenchData {
  readonly settings: ProxyBenchSettings;
  readonly peers: readonly PeerStatus[];
  readonly runs: readonly ProxyRunRecord[];
  /** Runs that did not complete (the load tool failed or overran); their implementation keeps going. */
  readonly failures: readonly { readonly scenario: string; readonly peer: string; readonly reason: string }[];
}

interface Live {
  readonly adapter: PeerAdapter;
  readonly peer: RunningPeer;
  readonly version: string;
}

async function measureRun(live: Live, scenario: Scenario, settings: ProxyBenchSettings, scriptDir: string, rep: number): Promise<ProxyRunRecord> {
  const trees = live.peer.pids.map((p) => ({ role: p.role, pids: processTree(p.pid) }));
  const before = trees.map((t) => sampleCost(t.pids));
  const rssMax = trees.map(() => 0);
  const sampleRss = (): void => trees.forEach((t, i) => (rssMax[i] = Math.max(rssMax[i]!, sampleCost(t.pids).rssBytes)));
  const timer = setInterval(sampleRss, 200);
  let load: LoadResult;
  try {
    load = await runLoad(scenario, scenario.tool === 'h2load' ? live.peer.target.h2 : live.peer.target.h1, settings.seconds, scriptDir, settings.loadCpus);
  } finally {
    clearInterval(timer);
  }
  sampleRss();
  const sidecars = trees.map((t, i) => ({ role: t.role, cpuSeconds: sampleCost(t.pids).cpuSeconds - before[i]!.cpuSeconds, rssMaxBytes: rssMax[i]! }));
  const cpu = sidecars.reduce((a, s) => a + s.cpuSeconds, 0);
  return {
    scenario: scenario.id,
    peer: live.adapter.name,
    rep,
    load,
    sidecars,
    ...(sidecars.length > 0 && load.requests > 0 ? { cpuSecondsPer10k: (cpu / load.requests) * 10_000 } : {}),
  };
}

/** Starts a fresh pair, reads its idle RSS, holds {@link OPEN_CONNECTIONS} connections through it, reads RSS again. */
async function measureOpenConnections(adapter: PeerAdapter, pki: TestPki, upH1: number, upH2: number, cpus: string | undefined, log: (line: string) => void): Promise<OpenConnectionsRss | undefined> {
  let peer: RunningPeer | undefined;
  try {
    peer = await adapter.start(await allocatePeerPorts(upH1, upH2), pki, cpus);
    const p = peer;
    const rss = (role: SidecarPid['role']): number => {
      const s = p.pids.find((x) => x.role === role);
      return s ? sampleCost(processTree(s.pid)).rssBytes : 0;
    };
    await sleep(300);
    const idle = { egress: rss('egress'), ingress: rss('ingress') };
    const held = await holdConnections(p.target.h1, OPEN_CONNECTIONS);
    await sleep(500);
    const r: OpenConnectionsRss = { connections: held.opened, failed: held.failed, idle, egress: rss('egress'), ingress: rss('ingress') };
    await held.close();
    const mb = (x: { egress: number; ingress: number }): string => `${(x.egress / 1e6).toFixed(1)} / ${(x.ingress / 1e6).toFixed(1)} MB`;
    log(`${adapter.name}: fresh pair RSS ${mb(idle)}, with ${held.opened} open connections ${mb(r)} (egress / ingress)` +
      `${held.failed > 0 ? `; ${held.failed} failed to open: ${held.firstError ?? '?'}` : ''}`);
    return r;
  } catch (err) {
    log(`${adapter.name}: open-connections measurement FAILED — ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  } finally {
    await peer?.stop();
  }
}

/** Runs the proxy benchmark; `log` receives progress lines. */
export async function runProxyBench(adapters: readonly PeerAdapter[], scenarios: readonly Scenario[], settings: ProxyBenchSettings, log: (line: string) => void): Promise<ProxyBenchData> {
  const statuses = new Map<string, PeerStatus>();
  const lives: Live[] = [];
  const runs: ProxyRunRecord[] = [];
  const failures: { scenario: string; peer: string; reason: string }[] = [];
  const attempt = async (scenario: Scenario, l: Live, what: () => Promise<void>): Promise<void> => {
    try {
      await what();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      failures.push({ scenario: scenario.id, peer: l.adapter.name, reason });
      log(`  ${l.adapter.name}: run FAILED — ${reason}`);
    }
  };
  const work = mkdtempSync(join(tmpdir(), 'ccmesh-bench-'));
  let upstream: Upstream | undefined;
  try {
    const pki = generateTestPki(work);
    const [upH1, upH2] = await freePorts(2);
    upstream = await startUpstream(upH1!, upH2!, settings.serverCpus);
    for (const adapter of adapters) {
      const avail = await adapter.availability();
      if (!avail.ok) {
        statuses.set(adapter.name, { name: adapter.name, state: 'skipped', reason: avail.reason });
        log(`${adapter.name}: ${avail.reason}`);
        continue;
      }
      let peer: RunningPeer | undefined;
      try {
        peer = await adapter.start(await allocatePeerPorts(upH1!, upH2!), pki, settings.serverCpus);
        const problems = await checkPeer(peer, pki);
        if (problems.length > 0) throw new Error(`pre-flight checks failed: ${problems.join('; ')}`);
        lives.push({ adapter, peer, version: avail.version });
        log(`${adapter.name} ${avail.version}: started and checked (mesh cert 200, no cert and rogue cert refused)`);
      } catch (err) {
        await peer?.stop();
        const reason = err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}` : String(err);
        statuses.set(adapter.name, { name: adapter.name, state: 'failed', version: avail.version, reason });
        log(`${adapter.name}: FAILED — ${reason}`);
      }
    }
    await sleep(300);
    for (const l of lives) {
      const rss = (role: SidecarPid['role']): number => {
        const p = l.peer.pids.find((x) => x.role === role);
        return p ? sampleCost(processTree(p.pid)).rssBytes : 0;
      };
      statuses.set(l.adapter.name, {
        name: l.adapter.name,
        state: 'measured',
        version: l.version,
        ...(l.peer.pids.length > 0 ? { idleRss: { egress: rss('egress'), ingress: rss('ingress') } } : {}),
      });
    }
    for (const scenario of scenarios) {
      log(`${scenario.id}: warm-up ${settings.warmupSeconds} s each, then ${settings.repetitions} × ${settings.seconds} s alternating ${lives.map((l) => l.adapter.name).join(' ')}`);
      for (const l of lives) {
        if (settings.warmupSeconds > 0) {
          await attempt(scenario, l, async () => {
            await runLoad(scenario, scenario.tool === 'h2load' ? l.peer.target.h2 : l.peer.target.h1, settings.warmupSeconds, work, settings.loadCpus);
          });
        }
      }
      for (let rep = 0; rep < settings.repetitions; rep++) {
        for (const l of lives) {
          await attempt(scenario, l, async () => {
            const r = await measureRun(l, scenario, settings, work, rep);
            runs.push(r);
            const lat = r.load.latencyUs.p99 !== undefined ? `p99 ${(r.load.latencyUs.p99 / 1000).toFixed(2)} ms` : `mean ${(r.load.latencyUs.mean / 1000).toFixed(2)} ms`;
            log(`  ${l.adapter.name.padEnd(8)} #${rep + 1}: ${Math.round(r.load.reqPerSec)} req/s, ${r.load.mibPerSec.toFixed(0)} MiB/s, ${lat}${r.load.errors ? `, ${r.load.errors} errors` : ''}`);
          });
        }
      }
    }
    // Memory per open connection (issue 6) on a fresh pair of each implementation, one at a time: neither does the
    // load above inflate it, nor does it inflate the load figures.
    for (const l of lives) {
      if (l.peer.pids.length === 0) continue;
      const openRss = await measureOpenConnections(l.adapter, pki, upH1!, upH2!, settings.serverCpus, log);
      if (openRss) statuses.set(l.adapter.name, { ...statuses.get(l.adapter.name)!, openRss });
    }
  } finally {
    await Promise.all(lives.map((l) => l.peer.stop()));
    await upstream?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return { settings, peers: adapters.map((a) => statuses.get(a.name) ?? { name: a.name, state: 'failed', reason: 'not reached' }), runs, failures };
}
