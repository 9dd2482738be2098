/**
 * The per-commit mutation tier: the security mutants whose source or tests changed in the commit under test (and in
 * the working tree) must all be killed. The whole catalogue runs in the bench tier (`npm run mutants`), which
 * publishes its score in docs/reliability.md.
 *
 * "Changed" is `git diff HEAD~1` (or `CCMESH_MUTANTS_BASE`). Without that history (a shallow clone) one mutant per
 * area runs instead, so the tier never silently runs nothing. Slow entries (the end-to-end attacks) run only in the bench
 * tier. At most MAX_MUTANTS run, chosen by a rotation keyed on
 * the commit, so a large commit is spread over successive runs; the rest is named in the output.
 *
 * The file must end inside tap's per-file timeout (300 s, .taprc): no mutant starts after START_BUDGET_MS, and one
 * started runs its test unmutated and mutated (each at most TEST_TIMEOUT_MS), so the tier ends by ~290 s however slow
 * the chosen tests are; the mutants left are reported as deferred (a comment, not a failure) and run in the bench tier.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { repoRoot } from '../fixtures.js';
import { CATALOGUE } from './catalogue/index.js';
import { changedSince, runMutants } from './run.js';
import type { SecurityMutation } from './types.js';

const MAX_MUTANTS = 10;
const START_BUDGET_MS = 60_000;
const TEST_TIMEOUT_MS = 115_000;

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function selection(): { list: SecurityMutation[]; why: string } {
  const base = process.env.CCMESH_MUTANTS_BASE ?? 'HEAD~1';
  const head = git(['rev-parse', 'HEAD']);
  if (head === undefined) return { list: onePerArea(), why: 'not a git checkout: one mutant per area' };
  if (git(['rev-parse', '--verify', '--quiet', `${base}^{commit}`]) === undefined) return { list: onePerArea(), why: `${base} is not in this clone: one mutant per area` };
  const changed = changedSince(base, CATALOGUE.filter((m) => !m.slow));
  if (changed.length <= MAX_MUTANTS) return { list: changed, why: `${changed.length} mutant(s) touched since ${base}` };
  const start = parseInt(head.slice(0, 8), 16) % changed.length;
  const list = Array.from({ length: MAX_MUTANTS }, (_, i) => changed[(start + i) % changed.length]!);
  return { list, why: `${changed.length} mutants touched since ${base}; running ${MAX_MUTANTS} (rotation from ${changed[start]!.id}), the rest in npm run mutants` };
}

function onePerArea(): SecurityMutation[] {
  const seen = new Set<string>();
  return CATALOGUE.filter((m) => {
    if (m.slow) return false;
    const area = m.id.split('-')[0]!;
    if (seen.has(area)) return false;
    seen.add(area);
    return true;
  });
}

void t.test('security mutants touched by this change are killed by their tests', async (t) => {
  const started = Date.now();
  t.setTimeout(295_000);
  const { list, why } = selection();
  t.comment(`mutation tier: ${why}`);
  if (list.length === 0) {
    t.pass('no security check or its tests changed');
    return;
  }
  const results = await runMutants(list, 1, (line) => t.comment(line), { startBy: started + START_BUDGET_MS, testTimeoutMs: TEST_TIMEOUT_MS });
  t.ok(
    results.some((r) => r.status !== 'deferred'),
    'at least one mutant ran within the budget',
  );
  for (const r of results) {
    if (r.status === 'deferred') continue; // named in its progress line above
    if (r.status === 'skipped') {
      // Privileged mutants need root; CI runs as root, so there a skip is a failure.
      if (process.env.CI) t.fail(`${r.id}: skipped under CI (${r.detail})`);
      else t.comment(`${r.id}: skipped here: ${r.detail}`);
      continue;
    }
    t.equal(r.status, 'killed', `${r.id}: ${r.detail}`);
  }
});
