/** Merging generated entries into a manifest: replace by workload-secret id, keep everything else, refuse clashes. */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { mergeEntries, type GeneratedEntry } from './manifest-entries.js';

const H = (c: string): string => c.repeat(64);
const entry = (hash: string, id: string, over: Partial<GeneratedEntry> = {}): GeneratedEntry => ({
  where: `res ${id}`, policyHash: hash, document: new Uint8Array([1]), sans: [id.split('/').pop()!], workloadSecretId: id, role: '', configDigests: {}, ...over,
});

const base = () => ({
  version: 1,
  policies: {
    [H('c')]: { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' },
    [H('a')]: { sans: ['old-web'], workloadSecretId: 'apps/v1/Deployment/shop/web', role: '' },
    [H('d')]: { sans: ['hand'], workloadSecretId: 'hand/made', role: '' },
  },
  configDigests: { [H('a')]: { '/etc/web': { f: H('0') } }, [H('d')]: { '/etc/d': { g: H('1') } } },
  referenceValues: { snp: [{}], tdx: [] },
});

void t.test('an entry replaces the one with its workload-secret id, in place; the others stay', (t) => {
  const web = entry(H('b'), 'apps/v1/Deployment/shop/web', { configDigests: { '/etc/web': { f: H('2') } } });
  const job = entry(H('e'), 'shop/migrate');
  const input = base();
  const { manifest, removedHashes } = mergeEntries(input, [web, job]);
  t.same(Object.keys(manifest.policies as object), [H('c'), H('b'), H('d'), H('e')], 'order: replaced in place, new appended');
  t.same((manifest.policies as Record<string, unknown>)[H('b')], { sans: ['web'], workloadSecretId: 'apps/v1/Deployment/shop/web', role: '' });
  t.same((manifest.policies as Record<string, unknown>)[H('d')], { sans: ['hand'], workloadSecretId: 'hand/made', role: '' });
  t.same(manifest.configDigests, { [H('b')]: { '/etc/web': { f: H('2') } }, [H('d')]: { '/etc/d': { g: H('1') } } });
  t.same(removedHashes, [H('a')]);
  t.same(manifest.referenceValues, { snp: [{}], tdx: [] }, 'other fields kept');
  t.ok(Object.hasOwn(input.policies, H('a')), 'input not modified');
  t.end();
});

void t.test('merging the same entries again changes nothing and removes nothing', (t) => {
  const entries = [entry(H('b'), 'apps/v1/Deployment/shop/web'), entry(H('e'), 'shop/migrate')];
  const once = mergeEntries(base(), entries).manifest;
  const twice = mergeEntries(once, entries);
  t.equal(JSON.stringify(twice.manifest), JSON.stringify(once));
  t.same(twice.removedHashes, []);
  t.end();
});

void t.test('an entry without digests drops the replaced entry\'s digests; no configDigests key is invented', (t) => {
  const { manifest } = mergeEntries(base(), [entry(H('b'), 'apps/v1/Deployment/shop/web')]);
  t.same(Object.keys(manifest.configDigests as object), [H('d')]);
  const bare = mergeEntries({ version: 1, policies: {} }, [entry(H('b'), 'x/y')]).manifest;
  t.notOk(Object.hasOwn(bare, 'configDigests'));
  t.end();
});

void t.test('clashes are refused', (t) => {
  const cases: [string, GeneratedEntry[], RegExp][] = [
    ['two resources with one policy', [entry(H('b'), 'x/one'), entry(H('b'), 'x/two')], /same policy/],
    ['two resources with one workload id', [entry(H('b'), 'x/one'), entry(H('e'), 'x/one')], /same workload-secret id/],
    ['a hash the manifest has for an entry generate did not make', [entry(H('d'), 'x/other')], /already lists for workload-secret id "hand\/made"/],
  ];
  for (const [what, entries, message] of cases) {
    try {
      mergeEntries(base(), entries);
      t.fail(`${what}: not refused`);
    } catch (err) {
      t.ok(err instanceof CcmeshError && err.code === ErrorCode.K8S_POLICY_INVALID, `${what}: K8S_POLICY_INVALID`);
      t.match((err as Error).message, message, what);
    }
  }
  t.end();
});
