/** Entry of `npm run mutants` (see run.ts). */
import { mutantsMain } from './run.js';

mutantsMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mutants: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
