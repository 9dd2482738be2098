/**
 * Runs fuzz targets in child processes (`worker.ts`), several targets per child to save start-up time, and
 * classifies how each ended. A child that dies by a signal or an unexpected exit code crashed in the target it was
 * running; one that outlives the target's time box by more than the grace hung and is killed. Either way the input
 * it was on is copied to `<findings>/<target>-<kind>-<sha256 prefix>.bin`, as is the input of an error finding, so
 * it can become a regression test and a corpus entry; the targets left are run in a fresh child.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerReport } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** How long past its time box a target may take (start-up, the input in progress) before it hung, by default. */
export const HANG_GRACE_MS = 15_000;

/** How long a child may take to load every target module before it hung. */
const STARTUP_MS = 60_000;

/** Heap limit of a child: a parser that allocates without bound dies here, and that is a crash. */
export const CHILD_HEAP_MB = 512;

/** How one target ended. */
export interface TargetOutcome {
  readonly target: string;
  readonly status: 'clean' | 'error' | 'slow' | 'crash' | 'hang';
  readonly runs: number;
  readonly detail: string;
  /** The saved input of a finding. */
  readonly input?: string;
  readonly seconds: number;
}

/** Options of {@link runTargets}. */
export interface RunOptions {
  readonly msPerTarget: number;
  readonly seed: number;
  /** Where inputs of findings are saved. */
  readonly findingsDir: string;
  readonly hangGraceMs?: number;
  /** Called as each target ends. */
  readonly onOutcome?: (o: TargetOutcome) => void;
}

/** Fuzzes `targets` one after the other, in as few child processes as crashes allow. */
export async function runTargets(targets: readonly string[], opts: RunOptions): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  let left = [...targets];
  while (left.length > 0) {
    const ran = await runChild(left, opts);
    outcomes.push(...ran);
    left = left.slice(ran.length);
  }
  return outcomes;
}

/** One target alone (the self-tests). */
export async function runTarget(target: string, opts: RunOptions): Promise<TargetOutcome> {
  return (await runTargets([target], opts))[0]!;
}

/** Runs `targets` in one child until they are done or it dies; returns the outcomes of the targets it got to. */
async function runChild(targets: readonly string[], opts: RunOptions): Promise<TargetOutcome[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'ccmesh-fuzz-'));
  const current = join(scratch, 'current.bin');
  const outcomes: TargetOutcome[] = [];
  const ended = (o: TargetOutcome): void => {
    outcomes.push(o);
    opts.onOutcome?.(o);
  };
  const grace = opts.hangGraceMs ?? HANG_GRACE_MS;
  try {
    const child = spawn(process.execPath, [`--max-old-space-size=${CHILD_HEAP_MB}`, WORKER, targets.join(','), String(opts.msPerTarget), String(opts.seed), current], { stdio: ['ignore', 'pipe', 'pipe'] });
    let running: string | undefined;
    let startedAt = performance.now();
    let hung = false;
    let stderr = '';
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    const watch = (ms: number): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, ms);
    };
    watch(STARTUP_MS);
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let msg: { start?: string } & Partial<WorkerReport>;
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue; // a target's own output: not ours
        }
        if (msg.start !== undefined) {
          running = msg.start;
          startedAt = performance.now();
          watch(opts.msPerTarget + grace);
        } else if (msg.target !== undefined && msg.runs !== undefined) {
          const seconds = (performance.now() - startedAt) / 1000;
          const f = msg.finding;
          ended(f ? { target: msg.target, status: f.kind, runs: msg.runs, detail: f.message, input: save(current, msg.target, f.kind, opts.findingsDir), seconds } : { target: msg.target, status: 'clean', runs: msg.runs, detail: '', seconds });
          running = undefined;
        }
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const victim = running ?? targets[outcomes.length];
    if (outcomes.length < targets.length && victim !== undefined) {
      const seconds = (performance.now() - startedAt) / 1000;
      if (hung) {
        ended({ target: victim, status: 'hang', runs: 0, detail: `no result ${opts.msPerTarget + grace} ms after the target started: killed`, input: save(current, victim, 'hang', opts.findingsDir), seconds });
      } else {
        const how = signal ? `killed by ${signal}` : `exit code ${String(code)}`;
        ended({ target: victim, status: 'crash', runs: 0, detail: `${how}: ${stderr.trim().split('\n').slice(-8).join('\n')}`, input: running ? save(current, victim, 'crash', opts.findingsDir) : undefined, seconds });
      }
    }
    return outcomes;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function save(current: string, target: string, kind: string, findingsDir: string): string | undefined {
  if (!existsSync(current)) return undefined;
  mkdirSync(findingsDir, { recursive: true });
  const bytes = readFileSync(current);
  const name = `${target}-${kind}-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.bin`;
  copyFileSync(current, join(findingsDir, name));
  return join(findingsDir, name);
}
