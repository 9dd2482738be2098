/**
 * The `ccmesh` binary's entry: hand argv to the command router, map the outcome to an exit code, exit.
 * Nothing else in the code base exits the process or reads the environment for a security decision.
 */
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
});
process.exitCode = code;
