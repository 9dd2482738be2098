/**
 * One hand-written security mutation: a defence removed by a one-line source change, and the tests that must notice.
 *
 * The catalogue (`catalogue/*.ts`) lists one entry per security check; `run.ts` applies each entry to a scratch copy
 * of the built tree, runs the entry's tests, and calls the mutant killed only when one of them fails. An entry whose
 * `find` text no longer occurs exactly once is itself a failure: the catalogue must follow the code.
 */
export interface SecurityMutation {
  /** Unique, kebab-case; the first segment names the area (`coordinator-…`, `proxy-…`). */
  readonly id: string;
  /** The guarantee the check gives, in one sentence (what breaks when it is gone). */
  readonly defence: string;
  /** Source file, relative to the repository root (a `.ts` file that compiles into `dist/`). */
  readonly file: string;
  /** Exact source text of the check; must occur exactly once in `file`. */
  readonly find: string;
  /** What the check becomes when it is removed (usually the same statement without its condition). */
  readonly replace: string;
  /** Test sources (`….test.ts`, relative to the root) of which at least one must fail with the mutation applied. */
  readonly tests: readonly string[];
  /** The tests need root and network namespaces (skipped with a reason elsewhere, a failure under CI). */
  readonly privileged?: boolean;
  /** The tests take a minute or more (the end-to-end suite): the bench tier runs the entry, the per-commit tier doesn't. */
  readonly slow?: boolean;
}

/** How one mutant ended. */
/** `deferred`: not started because the run's time budget was spent (the per-commit tier); the bench tier runs it. */
export type MutantStatus = 'killed' | 'survived' | 'stale' | 'skipped' | 'baseline-failed' | 'deferred';

/** One mutant's result. */
export interface MutantResult {
  readonly id: string;
  readonly status: MutantStatus;
  /** The test that failed (killed), or why the mutant did not run (stale, skipped, baseline-failed, deferred). */
  readonly detail: string;
  readonly seconds: number;
}
