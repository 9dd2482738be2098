/**
 * Command-line flag tokenising that collects every problem instead of stopping at the first (unlike
 * `util.parseArgs`). It only splits `--name value`, `--name=value` and boolean `--flag`; converting values to types
 * is {@link FieldReader}'s job, which picks up where this leaves off with the same issue list.
 */
import type { ConfigIssue } from '../errors.js';

/** The flags a command accepts: `string` takes a value, `boolean` does not; `multiple` may repeat. */
export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;

/** Result of {@link tokeniseFlags}. */
export interface TokenisedFlags {
  /** Last value of each single-valued flag; booleans are "true". */
  readonly values: Record<string, string | undefined>;
  /** Every value of flags declared `multiple`. */
  readonly lists: Record<string, string[]>;
  readonly positionals: string[];
  readonly issues: ConfigIssue[];
}

/** Splits `argv` according to `spec`, reporting unknown flags, missing values and repeats. */
export function tokeniseFlags(argv: readonly string[], spec: FlagSpec): TokenisedFlags {
  const values: Record<string, string | undefined> = {};
  const lists: Record<string, string[]> = {};
  const positionals: string[] = [];
  const issues: ConfigIssue[] = [];
  const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const def = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!def) {
      issues.push({ field: `--${name}`, value: eq === -1 ? undefined : arg.slice(eq + 1), expected: `one of the known flags (${known})` });
      continue;
    }
    let value: string | undefined;
    if (def.type === 'boolean') {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') issues.push({ field: `--${name}`, value: v, expected: 'no value, or true/false' });
        value = v === 'false' ? undefined : 'true';
      } else {
        value = 'true';
      }
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        issues.push({ field: `--${name}`, value: undefined, expected: 'a value after the flag' });
        continue;
      }
      value = next;
      i++;
    }
    if (def.multiple) {
      if (value !== undefined) (lists[name] ??= []).push(value);
    } else {
      if (values[name] !== undefined && def.type === 'string') {
        issues.push({ field: `--${name}`, value, expected: 'the flag only once' });
      }
      values[name] = value;
    }
  }
  return { values, lists, positionals, issues };
}
