/**
 * Shared lifecycle for adapters that run an egress and an ingress process: a private run directory, both processes
 * started and awaited, and everything stopped (and the directory removed) on success, failure or stop().
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ManagedProcess } from '../proxy/processes.js';
import type { PeerPorts, RunningPeer } from './peer.js';

/** How to start one side; `ready` resolves once it accepts traffic. */
export interface SideLauncher {
  (runDir: string): { proc: ManagedProcess; ready: Promise<void> };
}

/**
 * Starts ingress then egress in a fresh run directory; on any failure stops what started and rethrows. `stopGraceMs`:
 * how long stop() waits after SIGTERM before SIGKILL (the process's own default otherwise).
 */
export async function startSidecarPair(name: string, ports: PeerPorts, ingress: SideLauncher, egress: SideLauncher, stopGraceMs?: number): Promise<RunningPeer> {
  const runDir = mkdtempSync(join(tmpdir(), `ccmesh-bench-${name}-`));
  const procs: ManagedProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(procs.map((p) => p.stop(stopGraceMs)));
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    const inSide = ingress(runDir);
    procs.push(inSide.proc);
    await inSide.ready;
    const egSide = egress(runDir);
    procs.push(egSide.proc);
    await egSide.ready;
    return {
      pids: [
        { role: 'egress', pid: egSide.proc.pid },
        { role: 'ingress', pid: inSide.proc.pid },
      ],
      target: { h1: ports.egressH1, h2: ports.egressH2 },
      mtlsIngressH1: ports.ingressH1,
      stop,
    };
  } catch (err) {
    const logs = tailLogs(runDir);
    await stop();
    throw new Error(`${name}: sidecars did not start: ${(err as Error).message}${logs}`, { cause: err });
  }
}

function tailLogs(dir: string): string {
  const parts: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const text = readFileSync(join(dir, f), 'utf8').trim();
    if (text) parts.push(`\n--- ${f}\n${text.split('\n').slice(-10).join('\n')}`);
  }
  return parts.join('');
}
