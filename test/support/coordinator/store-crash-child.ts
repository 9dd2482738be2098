/**
 * Test helper, run as a child process by file-store-crash.test: opens a FileStore, starts one compare-and-swap and
 * SIGKILLs itself right after the named write step, so the parent can inspect what a crash there leaves behind.
 * Not imported by anything; lives here (not in a test file) so it is type-checked and compiled with the store.
 *
 *   node crash-child.js DIR KEY EXPECTED_REVISION VALUE_HEX KILL_STEP
 */
import { FileStore } from '../../../coordinator/store/file-store.js';

const [dir, key, expectedText, valueHex, killStep] = process.argv.slice(2);
if (dir === undefined || key === undefined || expectedText === undefined || valueHex === undefined || killStep === undefined) {
  throw new Error('usage: crash-child DIR KEY EXPECTED_REVISION VALUE_HEX KILL_STEP');
}
const store = await FileStore.open(dir, {
  onWriteStep: (step) => {
    if (step === killStep) process.kill(process.pid, 'SIGKILL');
  },
});
await store.compareAndSwap(key, Number(expectedText), Buffer.from(valueHex, 'hex'));
// Reaching here means the step never happened: exit non-zero on purpose (the parent expects death by SIGKILL).
process.exitCode = 3;
await store.close();
