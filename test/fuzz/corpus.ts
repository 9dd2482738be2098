/** The committed corpus: `test/fuzz/corpus/<target>/*` read from the source tree (beside `dist/`). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { FuzzInputKind } from './target.js';

/** The corpus root in the source tree. */
export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fuzz/corpus', import.meta.url));

/** The corpus of `target`, sorted by file name; JSON targets get parsed values. */
export function readCorpus(target: string, kind: FuzzInputKind): unknown[] {
  const dir = join(CORPUS_DIR, target);
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => !f.startsWith('.')).sort();
  return files.map((f) => {
    const bytes = new Uint8Array(readFileSync(join(dir, f)));
    return kind === 'json' ? JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown : bytes;
  });
}

/** An input as the bytes of a file (JSON values as their text). */
export function inputBytes(input: unknown, kind: FuzzInputKind): Uint8Array {
  return kind === 'json' ? new Uint8Array(Buffer.from(JSON.stringify(input) ?? 'null')) : (input as Uint8Array);
}
