/**
 * The seed-share files of a workspace. `ccmesh set` never overwrites one: the first mesh's shares are in
 * `seed-shares.json`, the shares of a mesh started later on purpose (`set --force` on a fresh Coordinator) in
 * `seed-shares-<transition12>.json`, then `…-<transition12>-1.json`, …. Recovery needs the file of the history the
 * Coordinator holds, which each file names by its first transition. The same manifest set twice starts two
 * histories with the same first transition but different seeds, so several files can match: newest first.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readBoundedFile } from './read-input.js';
import type { SeedShare } from '../contract/seed-shares.js';
import { CcmeshError, describeError, ErrorCode } from '../lib/errors.js';

/** One seed-share file that holds a share of the wanted history for the wanted key. */
export interface SeedShareFile {
  readonly path: string;
  readonly share: SeedShare;
}

const NAME = /^seed-shares(?:-([0-9a-f]{12})(?:-(\d+))?)?\.json$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object without them' : `a ${typeof v}`;
}

function malformed(path: string, what: string): CcmeshError {
  return new CcmeshError(ErrorCode.INPUT_MALFORMED, `cannot read seed shares from ${path}: ${what}`);
}

/** Creation order of a seed-share file name (seed-shares.json first); undefined for other names. */
function rankOf(name: string): number | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return m[1] === undefined ? 0 : 1 + (m[2] === undefined ? 0 : Number(m[2]) + 1);
}

/**
 * The files in `dir` with a share for `ownerKey` (hex SPKI) of the history whose first transition is
 * `firstTransition`, newest first. Throws when there is none, naming what the files hold.
 */
export async function seedShareFilesFor(dir: string, firstTransition: string, ownerKey: string): Promise<SeedShareFile[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => rankOf(n) !== undefined).sort((a, b) => rankOf(b)! - rankOf(a)!);
  if (names.length === 0) throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read seed shares: ${join(dir, 'seed-shares.json')} does not exist`);
  const found: SeedShareFile[] = [];
  const seen: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(await readBoundedFile(path)).toString('utf8')) as typeof doc;
    } catch (err) {
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `cannot read seed shares from ${path} (${describeError(err)})`, { cause: err });
    }
    // `null`, an array or a number is valid JSON too: refuse it by name instead of failing on a property read.
    if (!isRecord(doc)) throw malformed(path, `expected a JSON object with transitionHash and seedShares, got ${kindOf(doc)}`);
    seen.push(`${name} (first transition ${typeof doc.transitionHash === 'string' ? doc.transitionHash.slice(0, 16) : '?'}…)`);
    if (doc.transitionHash !== firstTransition || !Array.isArray(doc.seedShares)) continue;
    const shares: unknown[] = doc.seedShares;
    const bad = shares.findIndex((s) => !isRecord(s) || typeof s.ownerKey !== 'string' || typeof s.encryptedSeed !== 'string');
    if (bad >= 0) throw malformed(path, `seedShares[${bad}]: expected an object with ownerKey and encryptedSeed strings, got ${kindOf(shares[bad])}`);
    const share = (shares as SeedShare[]).find((s) => s.ownerKey === ownerKey);
    if (share) found.push({ path, share });
  }
  if (found.length === 0) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `no seed-share file in ${dir} holds a share for this key of the Coordinator's history (first transition ${firstTransition.slice(0, 16)}…): ${seen.join(', ')}`);
  }
  return found;
}
