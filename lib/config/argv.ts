/**
 * Command-line flag tokenising that collects every problem instead of stopping at the first (unlike
 * `util.parseArgs`). It only splits `--name value`, `--name=value` and boolean `--flag`; converting values to types
 * is {@link FieldReader}'s job, which picks up where this leaves off with the same issue list.
 */
import type { ConfigIssue } from '../errors.js';

/**
 * The flags a command accepts: `string` takes a value, `boolean` does not; `multiple` may repeat; `short` is a
 * one-letter alias (`-c` for `--coordinator`). `-h` always means `--help` when the spec has `help`.
 */
export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean; readonly short?: string }>>;

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
  const names = Object.keys(spec);
  const shorts = new Map<string, string>();
  for (const n of names) if (spec[n]!.short !== undefined) shorts.set(spec[n]!.short!, n);
  if (Object.hasOwn(spec, 'help') && !shorts.has('h')) shorts.set('h', 'help');
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const short = /^-([A-Za-z])(=.*)?$/s.exec(arg);
    if (short) {
      const long = shorts.get(short[1]!);
      if (long === undefined) {
        issues.push({ field: `-${short[1]!}`, value: undefined, expected: unknownFlagHint(short[1]!, names) });
        continue;
      }
      // The issues below name the flag the user wrote by its long form, which the usage text lists.
      arg = `--${long}${short[2] ?? ''}`;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const def = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!def) {
      issues.push({ field: `--${name}`, value: eq === -1 ? undefined : arg.slice(eq + 1), expected: unknownFlagHint(name, names) });
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

/** "a known flag: did you mean --x?" when one is close, else the list of known flags. */
function unknownFlagHint(name: string, known: readonly string[]): string {
  const near = closest(name, known);
  if (near !== undefined) return `a known flag (did you mean --${near}?)`;
  return `one of the known flags (${known.map((k) => `--${k}`).join(', ')})`;
}

/**
 * The candidate nearest to `word` by edit distance, when it is near enough to be a likely typo (at most a third of
 * the word's length, at least 1) or `word` is a prefix of exactly one candidate; else undefined.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance (insert, delete, substitute; each costs 1). Inputs are short: flag and command names. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
