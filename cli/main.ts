/**
 * The `ccmesh` binary's entry: hand argv to the command router, map the outcome to an exit code, exit.
 * Nothing else in the code base exits the process or reads the environment for a security decision.
 *
 * Signals: the first SIGINT/SIGTERM aborts `io.signal` (long-running commands drain and return) and arms a hard
 * deadline — the drain time a command declared through `io.drainWithin`, else {@link DEFAULT_DRAIN_MS} — after which
 * the process exits whatever is still running (a start that hangs, a stuck file-system call). A second signal
 * exits at once. The process therefore always ends within the drain time of the first SIGTERM.
 */
import { runCli } from './run.js';

/** Hard deadline after the first signal for commands that declared no drain time. */
const DEFAULT_DRAIN_MS = 10_000;

const shutdown = new AbortController();
let drainMs = DEFAULT_DRAIN_MS;
const signalled = (sig: NodeJS.Signals): void => {
  const code = 128 + (sig === 'SIGINT' ? 2 : 15);
  if (shutdown.signal.aborted) {
    process.stderr.write(`ccmesh: second ${sig}, exiting now\n`);
    process.exit(code);
  }
  process.stderr.write(`ccmesh: ${sig} received, shutting down\n`);
  shutdown.abort();
  setTimeout(() => {
    process.stderr.write(`ccmesh: still running ${drainMs} ms after ${sig}, exiting\n`);
    process.exit(code);
  }, drainMs).unref();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, signalled);

// A closed pipe (`ccmesh generate - | head`) ends the process quietly, not in a stack trace; the status is the
// shell's for a process killed by SIGPIPE (141) unless the command had already settled its own.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 128 + 13);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  signal: shutdown.signal,
  stdin: () => process.stdin,
  drainWithin: (ms) => {
    drainMs = ms;
  },
});
process.exitCode = code;
// Long-running commands have closed their servers by now; anything still holding the loop open is a bug, not a
// reason to hang the container's shutdown.
if (shutdown.signal.aborted) setTimeout(() => process.exit(code), 2000).unref();
