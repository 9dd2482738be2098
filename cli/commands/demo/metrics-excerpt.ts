/** Picks a few readable lines out of a Prometheus text exposition for the demo's metrics step. */

/** One sample line selected from an exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** The line as exposed. */
  readonly line: string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the sample lines of a text exposition (comments and blank lines skipped; unparsable lines ignored). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    const value = Number(m[3]);
    if (Number.isNaN(value)) continue;
    out.push({ name: m[1]!, labels, value, line });
  }
  return out;
}

/** The samples of metric `name` whose labels include every pair of `where` and whose value is not zero. */
export function nonZero(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && s.value !== 0 && Object.entries(where).every(([k, v]) => s.labels[k] === v));
}

/** Sum of the values of the matching samples (zero when none match). */
export function total(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  return nonZero(samples, name, where).reduce((a, s) => a + s.value, 0);
}
