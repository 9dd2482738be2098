/**
 * Preloaded into every test process Stryker starts (stryker.config.mjs: `tap.nodeArgs: ['--import', …]`).
 *
 * A mutant can make a test file's top-level code throw; the process then exits non-zero without printing a failing
 * test point, and Stryker's tap runner records an error, which the mutation score leaves out, instead of a kill.
 * `tap` itself and `run.ts` count such a file as failed; this makes Stryker agree by printing one failing test point
 * on such an exit.
 */
import { writeSync } from 'node:fs';

let sawOutput = false;
let sawFailure = false;
const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
process.stdout.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
  if (text.length > 0) sawOutput = true;
  if (/^\s*not ok /m.test(text)) sawFailure = true;
  return write(chunk, ...rest);
}) as typeof process.stdout.write;

process.on('exit', (code) => {
  if (code === 0 || sawFailure) return;
  const lines = sawOutput ? [] : ['TAP version 14'];
  lines.push(`not ok 1 - the test file exited with code ${code} before reporting a failing test`);
  if (!sawOutput) lines.push('1..1');
  writeSync(1, `${lines.join('\n')}\n`);
});
