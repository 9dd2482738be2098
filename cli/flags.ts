/** The common start of every command: split argv by the command's flag spec and hand the values to a FieldReader. */
import { type FlagSpec, tokeniseFlags, type TokenisedFlags } from '../lib/config/argv.js';
import { FieldReader } from '../lib/config/fields.js';

/** Tokenises `argv` for `command` and returns a reader already holding every tokenising problem. */
export function readCommandFlags(command: string, argv: readonly string[], spec: FlagSpec): { tok: TokenisedFlags; r: FieldReader } {
  const tok = tokeniseFlags(argv, spec);
  const r = new FieldReader(`flags for "ccmesh ${command}"`, tok.values, '--');
  for (const issue of tok.issues) r.issue(issue.field, issue.value, issue.expected, { bare: true });
  for (const p of tok.positionals) r.issue('argument', p, 'no arguments besides flags; every input is a --flag', { bare: true });
  return { tok, r };
}

/** True when the user asked for the command's help text. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
