/**
 * The demo's child processes: the real `ccmesh` binary (as a user would run it) and the stand-in workloads
 * (agent.js), each at its {@link Place}. Output is kept (bounded) and shown only when something fails; every child
 * is tracked so that shutdown — normal, on failure or on Ctrl-C — stops all of them.
 */
import { SIDECAR_NODE_FLAGS } from '../../../contract/sidecar-node-flags.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentOp } from './agent.js';
import { commandAt, type Place } from './topology.js';

const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));
const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const KEEP = 64 * 1024;

/** A started child. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  stdout(): string;
  stderr(): string;
  running(): boolean;
}

/** Output and exit status of a child that ran to completion. */
export interface Finished {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** The last `lines` lines of `text`, indented, for failure reports. */
export function tail(text: string, lines = 15): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).map((l) => `      ${l}`).join('\n');
}

/** Starts, runs and stops the demo's children. */
export class Children {
  readonly #all = new Set<Child>();
  readonly #signal: AbortSignal | undefined;

  constructor(signal: AbortSignal | undefined) {
    this.#signal = signal;
  }

  /** Starts `ccmesh <args>` at `place`. */
  ccmesh(name: string, place: Place, args: readonly string[]): Child {
    // Sidecars run with the flags the injected container gets (contract/sidecar-node-flags.ts).
    return this.#spawn(name, place, process.execPath, [...(args[0] === 'proxy' ? SIDECAR_NODE_FLAGS : []), MAIN, ...args]);
  }

  /** Starts the agent with `op` at `place`. */
  agent(name: string, place: Place, op: AgentOp): Child {
    return this.#spawn(name, place, process.execPath, [AGENT, JSON.stringify(op)]);
  }

  /** Runs a child to completion (killed after `timeoutMs` or on abort). */
  async finish(child: Child, timeoutMs: number): Promise<Finished> {
    const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
    const onAbort = (): void => void child.process.kill('SIGTERM');
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const code = await child.exited;
      return { code, stdout: child.stdout(), stderr: child.stderr() };
    } finally {
      clearTimeout(timer);
      this.#signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Runs `ccmesh <args>` at `place` to completion. */
  run(name: string, place: Place, args: readonly string[], timeoutMs = 60_000): Promise<Finished> {
    return this.finish(this.ccmesh(name, place, args), timeoutMs);
  }

  /** Runs the agent with `op` at `place` and parses its one JSON line. */
  async ask<T>(place: Place, op: AgentOp, timeoutMs = 30_000): Promise<T> {
    const r = await this.finish(this.agent(`agent ${op.op}`, place, op), timeoutMs);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || line === '') throw new Error(`the ${op.op} helper failed (exit ${r.code}):\n${tail(r.stderr)}`);
    return JSON.parse(line) as T;
  }

  /** SIGTERM to every running child, SIGKILL to those still running after `graceMs`; waits for all; returns how many. */
  async stopAll(graceMs = 5000): Promise<number> {
    const running = [...this.#all].filter((c) => c.running());
    for (const c of running) c.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of running) if (c.running()) c.process.kill('SIGKILL');
    }, graceMs);
    await Promise.all(running.map((c) => c.exited));
    clearTimeout(timer);
    return running.length;
  }

  #spawn(name: string, place: Place, cmd: string, args: readonly string[]): Child {
    const [file, argv] = commandAt(place, cmd, args);
    // `ip netns exec` execs the command in place, so the pid (and a SIGTERM to it) is the node process itself.
    const proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-KEEP)));
    proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-KEEP)));
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      proc.once('error', (e) => {
        done = true;
        err += `\n${e.message}`;
        resolve(`spawn failed: ${e.message}`);
      });
      proc.once('close', (code, sig) => {
        done = true;
        resolve(code ?? sig ?? 'unknown');
      });
    });
    const child: Child = { name, process: proc, exited, stdout: () => out, stderr: () => err, running: () => !done };
    this.#all.add(child);
    void exited.then(() => this.#all.delete(child));
    return child;
  }
}
