/**
 * The child process of fuzz targets, run one after the other: `node worker.js <target,…> <ms> <seed> <current-file>`.
 * Before each input it writes the input to <current-file>, so when this process dies (an abort in native code,
 * running out of its memory limit) or hangs, the parent still has the input. Per target it prints a start line, then
 * one JSON line with the number of inputs tried and the first finding, if any. A finding is an error that is not a
 * refusal, or one input that took more than {@link PER_INPUT_MS}.
 */
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { inputBytes, readCorpus } from './corpus.js';
import { mutatedBytes, mutatedJson } from './mutate.js';
import { isOrdinaryError, type FuzzTarget } from './target.js';
import { SELFTEST_TARGETS } from './targets/selftest.js';

/** One input may take at most this long (a parser that loops on hostile input fails here or is killed by the parent). */
export const PER_INPUT_MS = 5000;

/** What the worker prints last. */
export interface WorkerReport {
  readonly target: string;
  readonly runs: number;
  readonly finding?: { readonly kind: 'error' | 'slow'; readonly message: string };
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`;
  return `non-Error thrown: ${String(err)}`;
}

async function fuzz(target: FuzzTarget, ms: number, seed: number, currentFile: string): Promise<WorkerReport> {
  const corpus = readCorpus(target.name, target.kind);
  const arb = target.kind === 'json' ? mutatedJson(corpus) : mutatedBytes(corpus as Uint8Array[]);
  const refusal = target.refusal ?? isOrdinaryError;
  let runs = 0;
  let finding: WorkerReport['finding'];
  // Corpus entries first, unmutated: each must pass as it is.
  const inputs = (function* (): Generator<unknown> {
    yield* corpus;
    // fc.sample is eager: draw batches, each from its own seed, for as long as the time box lasts.
    for (let batch = 0; ; batch++) yield* fc.sample(arb, { numRuns: 200, seed: seed + batch });
  })();
  const deadline = Date.now() + ms;
  for (const input of inputs) {
    if (runs >= corpus.length && Date.now() >= deadline) break; // the corpus always runs whole
    writeFileSync(currentFile, inputBytes(input, target.kind));
    runs++;
    const started = performance.now();
    try {
      await target.run(input);
    } catch (err) {
      if (!refusal(err)) {
        finding = { kind: 'error', message: describe(err) };
        break;
      }
    }
    const took = performance.now() - started;
    if (took > PER_INPUT_MS) {
      finding = { kind: 'slow', message: `one input took ${Math.round(took)} ms (limit ${PER_INPUT_MS} ms)` };
      break;
    }
  }
  return { target: target.name, runs, ...(finding ? { finding } : {}) };
}

async function main(): Promise<void> {
  const [list, ms, seed, currentFile] = process.argv.slice(2);
  const names = (list ?? '').split(',');
  // Self-tests only need their own module: loading every parser takes seconds, which the harness's tests wait for.
  const lookup = names.every((n) => n.startsWith('selftest-')) ? (n: string) => SELFTEST_TARGETS.find((t) => t.name === n) : (await import('./targets/index.js')).targetNamed;
  const targets = names.map((n) => lookup(n));
  if (targets.some((t) => t === undefined) || !currentFile) {
    process.stderr.write(`usage: worker.js <target,…> <ms per target> <seed> <current-file> (unknown target in ${String(list)})\n`);
    process.exitCode = 2;
    return;
  }
  for (const target of targets as FuzzTarget[]) {
    // The parent reads this line to know which target the next input belongs to (and restarts its time box).
    process.stdout.write(`${JSON.stringify({ start: target.name })}\n`);
    const report = await fuzz(target, Number(ms), Number(seed), currentFile);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
}

await main();
