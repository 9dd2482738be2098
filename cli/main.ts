/**
 * The `ccmesh` binary's entry: hand argv to the command router, map the outcome to an exit code, exit.
 * Nothing else in the code base exits the process or reads the environment for a security decision.
 */
import { runCli } from './run.js';

const shutdown = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`ccmesh: ${sig} received, shutting down\n`);
    shutdown.abort();
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  signal: shutdown.signal,
});
process.exitCode = code;
// Long-running commands have closed their servers by now; anything still holding the loop open is a bug, not a
// reason to hang the container's shutdown.
if (shutdown.signal.aborted) setTimeout(() => process.exit(code), 2000).unref();
