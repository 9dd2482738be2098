/**
 * Checks that the JavaScript staged for the image is self-contained: every relative `import`/`export … from` and
 * `import('…')` of a module under `dist/` names a file that was staged. The image leaves tests and their helpers
 * out; a runtime module that imported one would fail only when that code path runs, so the build refuses it first.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** Relative specifiers of one module's source. */
export function relativeImports(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => m[2]!);
}

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...jsFiles(p));
    else if (e.endsWith('.js')) out.push(p);
  }
  return out;
}

/** `importer → missing target` for every unresolved relative import below `root/dist`; empty when all resolve. */
export function missingImports(root: string): string[] {
  const dist = join(root, 'dist');
  const missing: string[] = [];
  for (const file of jsFiles(dist)) {
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (!existsSync(target)) missing.push(`${relative(root, file)} → ${relative(root, target)}`);
    }
  }
  return missing;
}
