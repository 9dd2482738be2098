/**
 * What a test may observe of a child process from outside it, through /proc (Linux): its open file descriptors and
 * resident memory. Shared by the soak and fault tests, which assert no fd growth and bounded memory.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Number of open file descriptors of `pid`. */
export const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** Resident set size of `pid` in bytes (VmRSS). */
export const rssBytes = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `pid`'s fd count is at most `limit` (closes are asynchronous; 5 s at most); returns the last count. */
export async function fdsSettle(pid: number, limit: number): Promise<number> {
  let n = fdCount(pid);
  for (let i = 0; i < 50 && n > limit; i++) {
    await sleep(100);
    n = fdCount(pid);
  }
  return n;
}
