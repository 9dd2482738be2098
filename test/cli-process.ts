/**
 * Helpers for tests that drive the real `bin/ccmesh` as separate processes: a Coordinator child that stops on
 * SIGTERM, and polling a condition until it holds (free ports: `lib/net/free-ports.ts`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './fixtures.js';

/** The built CLI entry. */
export const CCMESH_BIN = join(repoRoot, 'bin', 'ccmesh');

/** A `ccmesh coordinator` child; its stderr is collected, `stop()` sends SIGTERM and waits for the exit. */
export interface CoordinatorChild {
  readonly child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `ccmesh coordinator ARGS…`. */
export function startCoordinatorProcess(args: readonly string[]): CoordinatorChild {
  const child = spawn(process.execPath, [CCMESH_BIN, 'coordinator', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Polls `fn` every 100 ms until it resolves true (a rejection counts as false); throws after `ms`. */
export async function waitFor(fn: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}
