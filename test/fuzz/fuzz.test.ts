/**
 * The per-commit fuzz tier: every target for a share of 16 s (two at a time, each in its own child process), and the
 * harness's own detection of an abort, a hang, a TypeError and unbounded memory, each with its input saved. The
 * bench tier runs the same targets longer (`npm run fuzz`, docs/reliability.md "Fuzzing").
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCorpus } from './corpus.js';
import { runTarget, runTargets, type TargetOutcome } from './run.js';
import { isOrdinaryError, FuzzViolation } from './target.js';
import { FUZZ_TARGETS } from './targets/index.js';

const TOTAL_MS = 16_000;
const JOBS = 2;
const findings = mkdtempSync(join(tmpdir(), 'ccmesh-fuzz-findings-'));
t.teardown(() => rmSync(findings, { recursive: true, force: true }));
const seed = Number(process.env.CCMESH_FUZZ_SEED ?? Date.now() % 2 ** 31);

void t.test('every target has a committed corpus', async (t) => {
  t.ok(FUZZ_TARGETS.length >= 20, `${FUZZ_TARGETS.length} targets`);
  for (const target of FUZZ_TARGETS) t.ok(readCorpus(target.name, target.kind).length > 0, `${target.name}: corpus/${target.name}/ is not empty`);
});

void t.test(`every target, ${TOTAL_MS / 1000} s in all (seed ${seed}): no crash, hang, or error that is not a refusal`, async (t) => {
  const msPerTarget = Math.floor((TOTAL_MS * JOBS) / FUZZ_TARGETS.length);
  const shares = Array.from({ length: JOBS }, (_, j) => FUZZ_TARGETS.filter((_t, i) => i % JOBS === j).map((x) => x.name));
  const outcomes = (await Promise.all(shares.map((s) => runTargets(s, { msPerTarget, seed, findingsDir: findings })))).flat();
  t.equal(outcomes.length, FUZZ_TARGETS.length, 'every target ran');
  for (const o of outcomes) {
    t.equal(o.status, 'clean', `${o.target}: ${o.status}${o.detail ? ` — ${o.detail}` : ''}${o.input ? ` (input: ${o.input})` : ''}`);
    // Every corpus entry is run before the mutations, so a clean target ran at least its corpus.
    t.ok(o.runs >= readCorpus(o.target, 'bytes').length, `${o.target}: ${o.runs} inputs`);
  }
});

void t.test('the harness notices each way a parser can fail, and keeps the input', async (t) => {
  const cases: [string, TargetOutcome['status'], RegExp][] = [
    ['selftest-abort', 'crash', /SIGABRT/],
    ['selftest-type-error', 'error', /^TypeError: /],
    ['selftest-memory', 'crash', /heap|memory|SIGABRT|SIGTRAP/i],
  ];
  for (const [name, status, detail] of cases) {
    const o = await runTarget(name, { msPerTarget: 3000, seed, findingsDir: findings });
    t.equal(o.status, status, `${name}: ${status}`);
    t.match(o.detail, detail, `${name}: ${o.detail.split('\n')[0] ?? ''}`);
    t.ok(o.input && existsSync(o.input), `${name}: the input is saved`);
  }
  const abort = readdirSync(findings).find((f) => f.startsWith('selftest-abort-crash-'));
  t.ok(abort && readFileSync(join(findings, abort)).length >= 3, 'the saved input of the abort is the one that aborted');
});

void t.test('a hang is killed after the time box and its input saved; the targets after it still run', async (t) => {
  const [hang, after] = await runTargets(['selftest-hang', 'selftest-clean'], { msPerTarget: 500, seed, findingsDir: findings, hangGraceMs: 2000 });
  t.equal(after?.status, 'clean', 'the next target ran in a fresh child');
  const o = hang!;
  t.equal(o.status, 'hang');
  t.ok(o.input && readFileSync(o.input)[0] === 0, 'the saved input starts with the 0x00 that hangs');
});

void t.test('what counts as a refusal', async (t) => {
  t.ok(isOrdinaryError(new Error('bad input')));
  t.notOk(isOrdinaryError(new TypeError('x')));
  t.notOk(isOrdinaryError(new RangeError('x')));
  t.notOk(isOrdinaryError(new Error('')));
  t.notOk(isOrdinaryError(new FuzzViolation('round trip')));
  t.notOk(isOrdinaryError('a string'));
});
