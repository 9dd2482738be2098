/**
 * The security mutation catalogue stays true to the code: every entry names a source file that exists, text that
 * occurs exactly once in it, a mutant that still transpiles, and tests that exist. And the runner itself tells a
 * killed mutant from a surviving one (a real check removed vs. a change that alters nothing).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../fixtures.js';
import { CATALOGUE } from './catalogue/index.js';
import { applyMutation, runMutants, score, transpile } from './run.js';
import type { SecurityMutation } from './types.js';

void t.test('every catalogue entry matches the current source exactly once and transpiles when applied', async (t) => {
  t.ok(CATALOGUE.length > 0, 'the catalogue is not empty');
  for (const m of CATALOGUE) {
    t.match(m.id, /^[a-z0-9]+(-[a-z0-9]+)+$/, `${m.id}: kebab-case id with an area prefix`);
    t.ok(m.defence.length > 10, `${m.id}: says what it defends`);
    t.ok(m.tests.length > 0, `${m.id}: names at least one test`);
    const path = join(repoRoot, m.file);
    if (!t.ok(existsSync(path), `${m.id}: ${m.file} exists`)) continue;
    const source = readFileSync(path, 'utf8');
    let mutated = '';
    t.doesNotThrow(() => (mutated = applyMutation(m, source)), `${m.id}: the text to mutate occurs exactly once`);
    if (mutated) t.doesNotThrow(() => transpile(mutated, m.file), `${m.id}: the mutant transpiles`);
    for (const test of m.tests) {
      t.ok(test.endsWith('.test.ts') && existsSync(join(repoRoot, test)), `${m.id}: test ${test} exists`);
    }
  }
});

void t.test('ids are unique', async (t) => {
  const ids = CATALOGUE.map((m) => m.id);
  t.same(ids.filter((id, i) => ids.indexOf(id) !== i), []);
});

void t.test('applyMutation refuses text that is missing or ambiguous', async (t) => {
  const base: SecurityMutation = { id: 'x-y', defence: 'a test entry only', file: 'f.ts', find: 'check();', replace: '', tests: ['a.test.ts'] };
  t.equal(applyMutation(base, 'a(); check(); b();'), 'a();  b();');
  t.throws(() => applyMutation(base, 'a();'), /no longer occurs/);
  t.throws(() => applyMutation(base, 'check(); check();'), /more than once/);
  t.throws(() => applyMutation({ ...base, replace: 'check();' }, 'check();'), /same text/);
});

void t.test('the runner calls a removed check killed and a change that alters nothing survived', async (t) => {
  // The trust-anchor check of X.509 chains: its tests are fast and independent of the catalogue entry.
  const anchor = CATALOGUE.find((m) => m.id === 'attestation-chain-anchor');
  if (!anchor) {
    t.fail('the catalogue lists attestation-chain-anchor');
    return;
  }
  const inert: SecurityMutation = { ...anchor, id: 'attestation-inert', find: 'const root = path[path.length - 1];', replace: 'const root = path.at(-1);', tests: ['attestation/x509/chain.test.ts'] };
  const real: SecurityMutation = { ...anchor, tests: ['attestation/x509/chain.test.ts'] };
  const lines: string[] = [];
  const [killed, survived] = await runMutants([real, inert], 1, (l) => lines.push(l));
  t.equal(killed?.status, 'killed', `removing the anchor check is noticed: ${killed?.detail}`);
  t.match(killed?.detail ?? '', /attestation\/x509\/chain\.test\.ts/);
  t.equal(survived?.status, 'survived', 'an equivalent rewrite passes every test');
  t.equal(lines.length, 2, 'one progress line per mutant');
});

void t.test('a run whose time budget is spent defers the mutants it has not started, and the score leaves them out', async (t) => {
  const anchor = CATALOGUE.find((m) => m.id === 'attestation-chain-anchor');
  if (!anchor) {
    t.fail('the catalogue lists attestation-chain-anchor');
    return;
  }
  const first: SecurityMutation = { ...anchor, tests: ['attestation/x509/chain.test.ts'] };
  const second: SecurityMutation = { ...first, id: 'attestation-chain-anchor-again' };
  const results = await runMutants([first, second], 1, () => undefined, { startBy: Date.now() - 1 });
  t.equal(results[0]?.status, 'deferred', 'nothing starts once the start deadline has passed');
  t.equal(results[1]?.status, 'deferred');
  t.match(results[1]?.detail ?? '', /npm run mutants/, 'the deferral says where the mutant runs instead');
  t.same(score(results), { killed: 0, counted: 0, percent: 100 }, 'deferred mutants are not counted as survived');
  const inTime = await runMutants([first, second], 1, () => undefined, { startBy: Date.now() + 600_000 });
  t.same(
    inTime.map((r) => r.status),
    ['killed', 'killed'],
    'with budget left every mutant runs',
  );
});

void t.test('every mutant the docs cite is in the catalogue (a `prefix-*` pattern names at least one)', async (t) => {
  const ids = new Set(CATALOGUE.map((m) => m.id));
  const areas = [...new Set(CATALOGUE.map((m) => m.id.split('-')[0]!))].join('|');
  // Catalogue ids have at least two parts after the area, which keeps `iptables-save` and the like out.
  const cited = new RegExp(`\`((?:${areas})-[a-z0-9]+-[a-z0-9-]*\\*?)\``, 'g');
  let count = 0;
  for (const doc of ['docs/protocol.md', 'docs/threat-model.md', 'docs/reliability.md']) {
    const text = readFileSync(join(repoRoot, doc), 'utf8');
    for (const [, id] of text.matchAll(cited)) {
      count++;
      if (id!.endsWith('*')) t.ok([...ids].some((known) => known.startsWith(id!.slice(0, -1))), `${doc}: ${id} names a catalogue entry`);
      else t.ok(ids.has(id!), `${doc}: ${id} is a catalogue entry`);
    }
  }
  t.ok(count > 20, `the docs cite mutants (${count})`);
});
