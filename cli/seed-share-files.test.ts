import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedShareFilesFor } from './seed-share-files.js';

const FIRST = 'ab'.repeat(32);
const share = { ownerKey: 'cd'.repeat(8), encryptedSeed: 'AAAA' };

function workspace(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-shares-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

void t.test('finds the share of the wanted history and key, newest file first', async (t) => {
  const doc = JSON.stringify({ transitionHash: FIRST, seedShares: [share] });
  const dir = workspace(t, { 'seed-shares.json': doc, [`seed-shares-${FIRST.slice(0, 12)}.json`]: doc, 'other.json': 'null' });
  const found = await seedShareFilesFor(dir, FIRST, share.ownerKey);
  t.same(found.map((f) => f.path), [join(dir, `seed-shares-${FIRST.slice(0, 12)}.json`), join(dir, 'seed-shares.json')]);
  t.same(found[0]?.share, share);
});

void t.test('a file holding valid JSON of the wrong shape is refused by name, not with a TypeError', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['null', 'null', /seed-shares\.json: expected a JSON object with transitionHash and seedShares, got null/],
    ['an array', '[]', /got an array/],
    ['a number', '7', /got a number/],
    ['a null share', JSON.stringify({ transitionHash: FIRST, seedShares: [null] }), /seed-shares\.json: seedShares\[0\]: expected an object with ownerKey and encryptedSeed strings, got null/],
    ['a share without strings', JSON.stringify({ transitionHash: FIRST, seedShares: [share, { ownerKey: 1 }] }), /seedShares\[1\]: .*got an object without them/],
  ];
  for (const [name, text, message] of cases) {
    const dir = workspace(t, { 'seed-shares.json': text });
    const err = await seedShareFilesFor(dir, FIRST, share.ownerKey).then(() => undefined, (e: unknown) => e);
    t.notOk(err instanceof TypeError, `${name}: not a TypeError`);
    t.match(err, { code: 'CCMESH_ERR_INPUT_MALFORMED', message }, name);
  }
});
