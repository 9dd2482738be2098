/**
 * Child processes of the harness: started pinned to CPUs with taskset when available, logged to a file, tracked in
 * one registry so that the entry point can kill every survivor on any exit path, and stopped TERM-then-KILL.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();

/** A started child process. */
export interface ManagedProcess {
  readonly pid: number;
  readonly name: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Never throws. */
  stop(graceMs?: number): Promise<void>;
}

let tasksetPresent: boolean | undefined;

/** True when `taskset` (util-linux) can pin processes on this machine. */
export function hasTaskset(): boolean {
  tasksetPresent ??= commandExists('taskset');
  return tasksetPresent;
}

/** True when `cmd` resolves on PATH (or is an executable path). */
export function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to completion and returns stdout + stderr (tools print versions on either); undefined if it cannot run. */
export function tryOutput(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  if (r.error) return undefined;
  return `${r.stdout}${r.stderr}`;
}

/** Starts `cmd args` with stdout and stderr appended to `logFile`, pinned to `cpuSet` when given and possible. */
export function startProcess(name: string, cmd: string, args: readonly string[], logFile: string, cpuSet?: string, env?: NodeJS.ProcessEnv): ManagedProcess {
  const pinned = cpuSet !== undefined && hasTaskset();
  // taskset execs the command, so the pid we get is the sidecar's own pid.
  const [file, argv] = pinned ? ['taskset', ['-c', cpuSet, cmd, ...args]] : [cmd, [...args]];
  const fd = openSync(logFile, 'a');
  const child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  live.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      live.delete(child);
      resolve('spawn-error');
    });
  });
  const pid = child.pid;
  return {
    pid,
    name,
    exited,
    async stop(graceMs = 3000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Kills every child still running (SIGKILL, synchronous): for the entry point's exit and signal paths. */
export function killAllChildrenSync(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // Already gone: nothing to clean up.
      continue;
    }
  }
}

/** Resolves when a TCP connection to 127.0.0.1:`port` succeeds; rejects after `timeoutMs` or if `proc` exits. */
export async function waitForPort(port: number, timeoutMs: number, proc?: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | undefined;
  void proc?.exited.then((c) => (exited = c));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${proc?.name ?? 'process'} exited (${exited}) before listening on ${port}`);
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Resolves when GET http://127.0.0.1:`port``path` answers 200; rejects after `timeoutMs` or if `proc` exits. */
export async function waitForHttp200(port: number, path: string, timeoutMs: number, proc?: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | undefined;
  void proc?.exited.then((c) => (exited = c));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${proc?.name ?? 'process'} exited (${exited}) before ${path} on ${port} was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // Not listening yet: try again until the deadline.
    }
    await sleep(100);
  }
  throw new Error(`GET http://127.0.0.1:${port}${path} did not return 200 within ${timeoutMs} ms`);
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
