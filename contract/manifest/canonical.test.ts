/**
 * Canonical form and hash: spelling (key order, whitespace, hex and name case, duration spelling, PEM wrapping)
 * does not change the hash; meaning does.
 */
import fc from 'fast-check';
import t from 'tap';
import { ConfigError } from '../../lib/errors.js';
import { canonicalManifestBytes, formatDurationMs, manifestHash } from './canonical.js';
import { parseDurationMs } from '../../lib/config/fields.js';
import { parseManifest } from './parse.js';
import { fullDocument, manifestFixtures, minimalDocument, type EditableDoc } from '../../test/support/manifest.js';

const f = await manifestFixtures();
const A = f.policyA;
const base = fullDocument(f);
const baseHash = manifestHash(JSON.stringify(base));

/** Rebuilds `v` with object keys in an order chosen by `rnd`. */
function shuffleKeys(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, rnd));
  if (typeof v !== 'object' || v === null) return v;
  const entries = Object.entries(v).map(([k, x]) => [k, shuffleKeys(x, rnd)] as const);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return Object.fromEntries(entries);
}

/** Upper-cases hex strings (keys and values) where `pick` says so; leaves everything else alone. */
function flipHexCase(v: unknown, pick: () => boolean): unknown {
  const flip = (s: string): string => (/^([0-9a-f]{2})+$/.test(s) && pick() ? s.toUpperCase() : s);
  if (typeof v === 'string') return flip(v);
  if (Array.isArray(v)) return v.map((x) => flipHexCase(x, pick));
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [flip(k), flipHexCase(x, pick)]));
}

void t.test('canonical bytes: sorted keys, no whitespace, defaults explicit', (t) => {
  const text = new TextDecoder().decode(canonicalManifestBytes(minimalDocument(f)));
  t.notMatch(text, /\n\s|": /);
  const doc = JSON.parse(text) as Record<string, unknown>;
  t.same(Object.keys(doc), Object.keys(doc).sort());
  t.equal(doc['trustDomain'], 'ccmesh.local');
  t.same(doc['meshCert'], { leafLifetime: '24h' });
  t.same(doc['configDigests'], {});
  t.match(doc['referenceValues'], { simulated: [{ snp: { allowDebug: false, allowSmt: true, vmpl: 0 } }] });
  t.equal(manifestHash(text), manifestHash(JSON.stringify(minimalDocument(f))), 'canonical form is a fixed point');
  t.end();
});

void t.test('the hash survives key-order shuffles, whitespace and hex case changes', (t) => {
  fc.assert(
    fc.property(fc.integer(), fc.boolean(), fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), (seed, pretty, flips) => {
      let s = seed;
      const rnd = (): number => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
      let n = 0;
      const variant = flipHexCase(shuffleKeys(base, rnd), () => flips[n++ % flips.length]!);
      return manifestHash(JSON.stringify(variant, null, pretty ? 2 : 0)) === baseHash;
    }),
    { numRuns: 50 },
  );
  t.end();
});

void t.test('equivalent spellings hash alike', (t) => {
  const same = (edit: (d: EditableDoc) => void, what: string): void => {
    const d = structuredClone(base) as EditableDoc;
    edit(d);
    t.equal(manifestHash(JSON.stringify(d)), baseHash, what);
  };
  same((d) => { d['meshCert'].leafLifetime = '1440m'; }, 'duration spelling');
  same((d) => { delete d['meshCert']; }, 'default leaf lifetime written out');
  same((d) => { delete d['trustDomain']; }, 'default trust domain written out');
  same((d) => { d['trustDomain'] = 'CCMesh.Local'; }, 'trust domain case');
  same((d) => { d['policies'][A].sans[0] = 'WEB'; }, 'DNS SAN case');
  same((d) => { d['policies'][A].sans[3] = '2001:0db8:0:0:0:0:0:1'; }, 'IPv6 spelling');
  same((d) => { d['referenceValues'].snp[0].allowSmt = true; }, 'an SNP default made explicit');
  same((d) => { d['referenceValues'].simulated[0].ark = d['referenceValues'].simulated[0].ark.replace(/\n/g, '\r\n'); }, 'PEM line endings');
  t.end();
});

void t.test('any change of meaning changes the hash', (t) => {
  const differs = (edit: (d: EditableDoc) => void, what: string): void => {
    const d = structuredClone(base) as EditableDoc;
    edit(d);
    t.not(manifestHash(JSON.stringify(d)), baseHash, what);
  };
  differs((d) => { d['policies'][A].sans[0] = 'web2'; }, 'a SAN');
  differs((d) => { d['policies'][A].sans.reverse(); }, 'SAN order');
  differs((d) => { d['policies'][A].role = 'coordinator'; }, 'a role');
  differs((d) => { d['policies'][A].workloadSecretId = 'other'; }, 'a workload secret id');
  differs((d) => { d['referenceValues'].snp[0].allowDebug = true; }, 'an SNP flag');
  differs((d) => { d['referenceValues'].tdx = []; }, 'dropping TDX');
  differs((d) => { d['workloadOwnerKeys'] = []; }, 'owner keys');
  differs((d) => { d['meshCert'].leafLifetime = '25h'; }, 'leaf lifetime');
  differs((d) => { d['configDigests'][A]['/etc/web']['nginx.conf'] = 'ee'.repeat(32); }, 'a pinned digest');
  t.end();
});

void t.test('fast-check: changing any SAN of the policy changes the hash', (t) => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.nat(3), (label, i) => {
      const d = structuredClone(base) as EditableDoc;
      const sans = d['policies'][A].sans as string[];
      fc.pre(!sans.includes(label));
      sans[i] = label;
      return manifestHash(JSON.stringify(d)) !== baseHash;
    }),
    { numRuns: 100 },
  );
  t.end();
});

void t.test('formatDurationMs round-trips through parseDurationMs', (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (ms) => parseDurationMs(formatDurationMs(ms)) === ms));
  t.equal(formatDurationMs(5_400_000), '1h30m');
  t.end();
});

void t.test('random JSON never crashes the parser: a manifest or a ConfigError', (t) => {
  const probe = (text: string): boolean => {
    try {
      parseManifest(text);
      return true;
    } catch (err) {
      return err instanceof ConfigError;
    }
  };
  fc.assert(fc.property(fc.json({ maxDepth: 6 }), probe), { numRuns: 500 });
  fc.assert(fc.property(fc.string(), probe), { numRuns: 200 });
  // Mutations of a valid document: replace one node with random JSON.
  const text = JSON.stringify(base);
  fc.assert(
    fc.property(fc.nat(text.length), fc.json({ maxDepth: 3 }), (at, junk) => probe(text.slice(0, at) + junk + text.slice(at))),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.anything({ maxDepth: 4 }), (junk) => {
      const d = structuredClone(base) as EditableDoc;
      d['policies'][A].sans = junk;
      d['referenceValues'].simulated[0].snp = junk;
      d['configDigests'][A] = junk;
      return probe(JSON.stringify(d) ?? 'null');
    }),
    { numRuns: 300 },
  );
  t.end();
});

void t.test('canonicalManifestBytes accepts text, bytes and documents alike', (t) => {
  const text = JSON.stringify(base);
  const want = canonicalManifestBytes(base);
  t.same(canonicalManifestBytes(text), want);
  t.same(canonicalManifestBytes(new TextEncoder().encode(text)), want);
  t.throws(() => canonicalManifestBytes('{}'), ConfigError);
  t.end();
});
