import t from 'tap';
import { createHash } from 'node:crypto';
import { type CacheEntry, decodeCacheEntry, encodeCacheEntry } from './cache-entry.js';

const entry: CacheEntry = {
  kind: 'intel-tcb-info',
  key: 'a'.repeat(64),
  fetchedAtMs: 1_700_000_000_000,
  nextUpdateMs: 1_700_100_000_000,
  issuerChain: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  body: new TextEncoder().encode('{"tcbInfo":{}}'),
};
const want = { key: entry.key, kind: entry.kind };
const good = encodeCacheEntry(entry);

function withMeta(edit: (m: Record<string, unknown>) => void, body = entry.body): Uint8Array {
  const text = Buffer.from(good).toString('latin1');
  const [magic, meta] = text.split('\n');
  const m = JSON.parse(meta!) as Record<string, unknown>;
  edit(m);
  return Buffer.concat([Buffer.from(`${magic}\n${JSON.stringify(m)}\n`), body]);
}

void t.test('round trip', (t) => {
  t.same(decodeCacheEntry(good, want), { ok: true, entry });
  const plain = encodeCacheEntry({ ...entry, kind: 'amd-vek', issuerChain: undefined, nextUpdateMs: undefined });
  t.same(decodeCacheEntry(plain, { key: entry.key, kind: 'amd-vek' }), {
    ok: true,
    entry: { ...entry, kind: 'amd-vek', issuerChain: undefined, nextUpdateMs: undefined },
  });
  t.end();
});

const cases: readonly (readonly [string, Uint8Array, RegExp, { key: string; kind: CacheEntry['kind'] }?])[] = [
  ['empty file', new Uint8Array(0), /not a ccmesh cache file/],
  ['wrong magic', Buffer.from('hello\n{}\n'), /not a ccmesh cache file/],
  ['no metadata line', good.subarray(0, 30), /metadata line missing/],
  ['metadata not JSON', withMeta(() => undefined).map((b, i) => (i === 27 ? 0x7b : b)), /metadata is not JSON/],
  ['truncated body', good.subarray(0, good.length - 1), /partial write/],
  ['appended bytes', Buffer.concat([good, Buffer.from('x')]), /partial write/],
  ['body bit flip', Buffer.from(good).map((b, i) => (i === good.length - 2 ? b ^ 1 : b)), /checksum/],
  ['other key', good, /different request/, { key: 'b'.repeat(64), kind: 'intel-tcb-info' }],
  ['other kind', good, /different request/, { key: entry.key, kind: 'intel-qe-identity' }],
  ['missing issuer chain', withMeta((m) => (m.issuerChain = null)), /issuer chain/],
  ['unexpected issuer chain', withMeta((m) => (m.kind = 'amd-crl')), /issuer chain/, { key: entry.key, kind: 'amd-crl' }],
  ['bad fetchedAtMs', withMeta((m) => (m.fetchedAtMs = 'yesterday')), /fetchedAtMs/],
  ['bad nextUpdateMs', withMeta((m) => (m.nextUpdateMs = -1)), /nextUpdateMs/],
  [
    'text kind with non-UTF-8 body',
    withMeta(
      (m) => {
        m.bodyLength = 2;
        m.bodySha256 = createHash('sha256').update(Buffer.from([0xc3, 0x28])).digest('hex');
      },
      Buffer.from([0xc3, 0x28]),
    ),
    /not UTF-8/,
  ],
];

void t.test('damaged or foreign files are refused with a reason', (t) => {
  for (const [name, bytes, reason, expected] of cases) {
    const d = decodeCacheEntry(bytes, expected ?? want);
    t.equal(d.ok, false, name);
    if (!d.ok) t.match(d.problem, reason, name);
  }
  t.end();
});
