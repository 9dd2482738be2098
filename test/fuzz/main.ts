/**
 * `npm run fuzz`: every fuzz target in its own child process, findings saved under `--out`.
 *   node dist/test/fuzz/main.js [--seconds N per target | --total N overall] [--only a,b] [--jobs N] [--seed N] [--out DIR] [--list]
 * Defaults: 20 s per target, 1 job, a random seed (printed, so a run can be repeated), findings in
 * `fuzz-findings/`. Exits 1 when any target found something. The CI tier runs `--total 110` (under 2 minutes).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { runTargets, type TargetOutcome } from './run.js';
import { FUZZ_TARGETS, targetNamed } from './targets/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    total: { type: 'string' },
    only: { type: 'string' },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    out: { type: 'string', default: 'fuzz-findings' },
    list: { type: 'boolean', default: false },
  },
});

if (values.list) {
  for (const t of FUZZ_TARGETS) process.stdout.write(`${t.name.padEnd(28)} ${t.what}\n`);
  process.exit(0);
}
const names = values.only ? values.only.split(',') : FUZZ_TARGETS.map((t) => t.name);
const unknown = names.filter((n) => !targetNamed(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown fuzz target(s): ${unknown.join(', ')} (see --list)\n`);
  process.exit(64);
}
const jobs = Math.max(1, Number(values.jobs));
const perTargetMs = values.total !== undefined ? Math.max(500, Math.floor((Number(values.total) * 1000 * jobs) / names.length) - 300) : Number(values.seconds ?? 20) * 1000;
if (!Number.isFinite(perTargetMs) || perTargetMs <= 0) {
  process.stderr.write('--seconds and --total take a positive number of seconds\n');
  process.exit(64);
}
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const out = resolve(values.out);
process.stdout.write(`fuzz: ${names.length} targets, ${(perTargetMs / 1000).toFixed(1)} s each, ${jobs} jobs, seed ${seed}\n`);

const outcomes: TargetOutcome[] = [];
const print = (o: TargetOutcome): void => {
  process.stdout.write(`${o.status.padEnd(6)} ${o.target.padEnd(28)} ${String(o.runs).padStart(8)} inputs ${o.seconds.toFixed(1)} s${o.input ? ` — input saved to ${o.input}` : ''}${o.detail ? `\n       ${o.detail.split('\n').join('\n       ')}` : ''}\n`);
};
// Targets dealt round-robin to the jobs, each job one child process (a fresh one after a crash).
const shares = Array.from({ length: jobs }, (_, j) => names.filter((_n, i) => i % jobs === j));
for (const share of await Promise.all(shares.map((s) => runTargets(s, { msPerTarget: perTargetMs, seed, findingsDir: out, onOutcome: print })))) outcomes.push(...share);
const bad = outcomes.filter((o) => o.status !== 'clean');
process.stdout.write(`fuzz: ${outcomes.length - bad.length} of ${outcomes.length} targets clean, ${outcomes.reduce((n, o) => n + o.runs, 0)} inputs (seed ${seed})\n`);
process.exitCode = bad.length > 0 ? 1 : 0;
