/**
 * A small static reader of Helm templates, for checking the chart without a `helm` binary: it finds `.Values.a.b`
 * references, reads `define` blocks, inlines helpers whose bodies are plain text (constants, security contexts),
 * and strips the remaining `{{ … }}` actions so the YAML around them can be parsed and compared. It is not a
 * template engine: conditionals are neither evaluated nor removed, so only literal text is checked.
 */

/** Every `.Values` path a template refers to (`.Values.a.b` and `$.Values.a.b`), deduplicated, in order. */
export function findValuesRefs(template: string): string[] {
  const out = new Set<string>();
  for (const m of template.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) out.add((m[1] ?? '').slice(1));
  return [...out];
}

/** Bodies of `{{- define "name" -}} … {{- end -}}` blocks, trimmed as the `-` markers trim them. */
export function readDefines(helpers: string): Map<string, string> {
  const defs = new Map<string, string>();
  const re = /\{\{-?\s*define\s+"([^"]+)"\s*-?\}\}([\s\S]*?)\{\{-?\s*end\s*-?\}\}(?=\s*(?:\{\{-?\s*define|\{\{\/\*|$))/g;
  for (const m of helpers.matchAll(re)) defs.set(m[1] ?? '', (m[2] ?? '').trim());
  return defs;
}

/** Names of every template that `include` references. */
export function findIncludes(template: string): string[] {
  return [...new Set([...template.matchAll(/include\s+"([^"]+)"/g)].map((m) => m[1] ?? ''))];
}

/**
 * Resolves helper bodies that become plain text once the helpers they include are inlined (repeating until
 * nothing changes); helpers that still hold an action after that are left out.
 */
export function plainHelpers(defs: ReadonlyMap<string, string>): Map<string, string> {
  const plain = new Map<string, string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const [name, body] of defs) {
      if (plain.has(name)) continue;
      const inlined = inlineIncludes(body, plain);
      if (!inlined.includes('{{')) {
        plain.set(name, inlined);
        changed = true;
      }
    }
  }
  return plain;
}

/**
 * Replaces `include` actions of plain helpers by their text: a line holding only `{{- include "x" . | nindent N }}`
 * becomes the body indented by N; an inline `{{ include "x" . }}` (optionally `| quote`) becomes the body.
 */
export function inlineIncludes(text: string, plain: ReadonlyMap<string, string>): string {
  const blockRe = /^[ \t]*\{\{-\s*include\s+"([^"]+)"[^|}]*\|\s*nindent\s+(\d+)\s*-?\}\}[ \t]*$/gm;
  let out = text.replace(blockRe, (all, name: string, n: string) => {
    const body = plain.get(name);
    if (body === undefined) return all;
    const pad = ' '.repeat(Number(n));
    return body.split('\n').map((l) => pad + l).join('\n');
  });
  const inlineRe = /\{\{-?\s*include\s+"([^"]+)"[^|}]*?(\|\s*quote\s*)?-?\}\}/g;
  out = out.replace(inlineRe, (all, name: string, quote: string | undefined) => {
    const body = plain.get(name);
    if (body === undefined || body.includes('\n')) return all;
    return quote ? JSON.stringify(body) : body;
  });
  return out;
}

/** Removes every remaining action and the lines left blank by it. */
export function stripActions(text: string): string {
  return text
    .replace(/\{\{[\s\S]*?\}\}/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .join('\n');
}
