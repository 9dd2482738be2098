/**
 * Golden-file comparison shared by the golden tests: compare `actual` with `dir/name`; with UPDATE_GOLDEN=1 (re)write
 * the file instead — a rewritten golden file is only honest after someone read its diff.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** True when the run should rewrite golden files. */
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

/** The assertions a golden comparison needs (a tap Test fits). */
export interface GoldenAsserts {
  equal(a: unknown, b: unknown, m: string): unknown;
  fail(m: string): unknown;
  pass(m: string): unknown;
}

/** Asserts `actual` equals the golden file `dir/name` (a missing file fails, and is written for review). */
export function assertGolden(t: GoldenAsserts, dir: string, name: string, actual: string, label = name): void {
  const file = join(dir, name);
  if (UPDATE_GOLDEN || !existsSync(file)) {
    if (!UPDATE_GOLDEN) t.fail(`golden file ${label} is missing; run with UPDATE_GOLDEN=1 to create it`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, actual);
    if (UPDATE_GOLDEN) t.pass(`${label} updated`);
    return;
  }
  t.equal(actual, readFileSync(file, 'utf8'), `${label} matches (UPDATE_GOLDEN=1 refreshes it)`);
}
