import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { ErrorCode } from '../../lib/errors.js';
import { MemoryStore } from '../store/memory-store.js';
import { History, HISTORY_KEYS } from './history.js';
import type { ManifestHash, TransitionHash } from './hashes.js';
import { sha256Hex } from './hashes.js';
import { encodeLatest } from './latest-pointer.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function chain(h: History, n: number): Promise<TransitionHash[]> {
  const hashes: TransitionHash[] = [];
  let prev: TransitionHash | '' = '';
  for (let i = 0; i < n; i++) {
    const m = await h.putManifest(enc(`{"generation":${i}}`));
    prev = await h.putTransition({ manifestHash: m, previousTransitionHash: prev });
    hashes.push(prev);
  }
  return hashes;
}

void t.test('puts are content-addressed and idempotent; reads return the bytes', async (t) => {
  const store = new MemoryStore();
  const h = new History(store);
  const doc = enc('{"policies":{}}');
  const m = await h.putManifest(doc);
  t.equal(m, sha256Hex(doc));
  t.equal(await h.putManifest(doc), m, 'second put of the same bytes is fine');
  t.same(await store.list(''), [`manifests/${m}`]);
  t.same(await h.getManifest(m), doc);
  const p = await h.putPolicy(enc('package agent_policy'));
  t.same(await h.getPolicy(p), enc('package agent_policy'));
  t.equal(await h.getPolicy(sha256Hex(enc('absent')) as never), undefined);
  const tr = await h.putTransition({ manifestHash: m, previousTransitionHash: '' });
  t.equal(await h.putTransition({ manifestHash: m, previousTransitionHash: '' }), tr);
  t.same(await h.getTransition(tr), { manifestHash: m, previousTransitionHash: '' });
  t.equal(new TextDecoder().decode((await store.get(`transitions/${tr}`))?.value), `{"manifestHash":"${m}","previousTransitionHash":""}`);
  await t.rejects(h.getManifest('ABC' as ManifestHash), { code: ErrorCode.STORE_KEY_INVALID });
});

void t.test('tampered blobs are refused on read and on put, naming the key', async (t) => {
  const store = new MemoryStore();
  const h = new History(store);
  const m = await h.putManifest(enc('original'));
  const key = `manifests/${m}`;
  await store.compareAndSwap(key, 1, enc('tampered'));
  await t.rejects(h.getManifest(m), { code: ErrorCode.STORE_CORRUPT, message: new RegExp(key) });
  await t.rejects(h.putManifest(enc('original')), { code: ErrorCode.STORE_CORRUPT, message: new RegExp(key) });
  // A transition with the right hash but not canonical bytes (possible only if the hash were chosen for it).
  const odd = enc(`{ "manifestHash":"${m}","previousTransitionHash":""}`);
  const oddHash = sha256Hex(odd);
  await store.compareAndSwap(`transitions/${oddHash}`, 0, odd);
  await t.rejects(h.getTransition(oddHash as TransitionHash), { code: ErrorCode.STORE_CORRUPT, message: /canonical/ });
});

void t.test('latest: absent, then advanced by compare-and-swap, verified with the key', async (t) => {
  for (const keys of [ed, ec]) {
    const h = new History(new MemoryStore());
    t.equal(await h.exists(), false);
    t.equal(await h.readLatest(keys.publicKey), undefined);
    const [t1, t2] = (await chain(h, 2)) as [TransitionHash, TransitionHash];
    const a = await h.advanceLatest(t1, keys.privateKey, 0);
    if (!a.ok) throw new Error('first advance failed');
    t.equal(await h.exists(), true);
    t.same(await h.readLatest(keys.publicKey), { transitionHash: t1, revision: a.revision, verified: true });
    t.same(await h.readLatest(keys.privateKey), { transitionHash: t1, revision: a.revision, verified: true }, 'a private key verifies too');
    t.same(await h.readLatest(), { transitionHash: t1, revision: a.revision, verified: false }, 'recovery mode: unverified');
    const b = await h.advanceLatest(t2, keys.privateKey, a.revision);
    t.equal(b.ok, true);
    t.equal((await h.readLatest(keys.publicKey))?.transitionHash, t2);
  }
});

void t.test('latest: two writers from the same read — one wins, the stale one gets a conflict', async (t) => {
  const store = new MemoryStore();
  const h = new History(store);
  const [t1] = (await chain(h, 1)) as [TransitionHash];
  const first = await h.advanceLatest(t1, ed.privateKey, 0);
  if (!first.ok) throw new Error('setup');
  const read = await h.readLatest(ed.publicKey);
  const mA = await h.putManifest(enc('A'));
  const mB = await h.putManifest(enc('B'));
  const tA = await h.putTransition({ manifestHash: mA, previousTransitionHash: t1 });
  const tB = await h.putTransition({ manifestHash: mB, previousTransitionHash: t1 });
  const [ra, rb] = await Promise.all([h.advanceLatest(tA, ed.privateKey, read!.revision), h.advanceLatest(tB, ed.privateKey, read!.revision)]);
  t.equal([ra, rb].filter((r) => r.ok).length, 1, 'exactly one writer wins');
  const winner = ra.ok ? tA : tB;
  t.equal((await h.readLatest(ed.publicKey))?.transitionHash, winner);
  t.same(await h.advanceLatest(winner === tA ? tB : tA, ed.privateKey, read!.revision), { ok: false }, 'retrying stale still loses');
});

void t.test('latest: wrong key, forged or malformed pointers are refused', async (t) => {
  const store = new MemoryStore();
  const h = new History(store);
  const [t1, t2] = (await chain(h, 2)) as [TransitionHash, TransitionHash];
  await h.advanceLatest(t1, ed.privateKey, 0);
  const other = generateKeyPairSync('ed25519');
  await t.rejects(h.readLatest(other.publicKey), { code: ErrorCode.HISTORY_SIGNATURE_INVALID });
  await t.rejects(h.readLatest(ec.publicKey), { code: ErrorCode.HISTORY_SIGNATURE_INVALID }, 'a key of another type');
  // Someone with store access re-points latest, reusing the old signature.
  const entry = await store.get(HISTORY_KEYS.latest);
  const sig = JSON.parse(new TextDecoder().decode(entry!.value)) as { signature: string };
  await store.compareAndSwap(HISTORY_KEYS.latest, entry!.revision, encodeLatest({ transitionHash: t2, signature: Buffer.from(sig.signature, 'base64') }));
  await t.rejects(h.readLatest(ed.publicKey), { code: ErrorCode.HISTORY_SIGNATURE_INVALID });
  t.same((await h.readLatest())?.verified, false, 'unverified read still shows it, marked unverified');
  const cur = await store.get(HISTORY_KEYS.latest);
  await store.compareAndSwap(HISTORY_KEYS.latest, cur!.revision, enc('{"transitionHash":"x"}'));
  await t.rejects(h.readLatest(), { code: ErrorCode.STORE_CORRUPT });
});

void t.test('advance refuses transitions that are missing or do not extend latest', async (t) => {
  const h = new History(new MemoryStore());
  const [t1, t2] = (await chain(h, 2)) as [TransitionHash, TransitionHash];
  await t.rejects(h.advanceLatest(t2, ed.privateKey, 0), { code: ErrorCode.HISTORY_ADVANCE_INVALID }, 't2 follows t1, not nothing');
  await t.rejects(h.advanceLatest(sha256Hex(enc('nope')) as TransitionHash, ed.privateKey, 0), { code: ErrorCode.HISTORY_ADVANCE_INVALID });
  const a = await h.advanceLatest(t1, ed.privateKey, 0);
  const fork = await h.putTransition({ manifestHash: await h.putManifest(enc('fork')), previousTransitionHash: '' });
  await t.rejects(h.advanceLatest(fork, ed.privateKey, a.ok ? a.revision : -1), { code: ErrorCode.HISTORY_ADVANCE_INVALID });
});

void t.test('walk goes newest to first; a missing link is corruption', async (t) => {
  const store = new MemoryStore();
  const h = new History(store);
  const hashes = await chain(h, 4);
  const seen: string[] = [];
  for await (const step of h.walk(hashes[3]!)) seen.push(step.hash);
  t.same(seen, [...hashes].reverse());
  const bounded: string[] = [];
  await t.rejects(
    (async () => {
      for await (const step of h.walk(hashes[3]!, 2)) bounded.push(step.hash);
    })(),
    { code: ErrorCode.STORE_CORRUPT, message: /longer than 2/ },
  );
  t.same(bounded, [hashes[3], hashes[2]]);
  const orphanStore = new MemoryStore();
  const o = new History(orphanStore);
  const m = await o.putManifest(enc('m'));
  const dangling = await o.putTransition({ manifestHash: m, previousTransitionHash: hashes[0]! });
  await t.rejects(
    (async () => {
      for await (const _ of o.walk(dangling)) void _;
    })(),
    { code: ErrorCode.STORE_CORRUPT, message: /missing/ },
  );
});
