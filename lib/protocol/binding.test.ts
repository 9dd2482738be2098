/**
 * Known-answer vectors for what evidence and signatures bind (`binding.ts`) and for the mesh-owner pin
 * (`mesh-owner.ts`), computed here from the byte layout the protocol specifies — a domain label followed by one NUL,
 * then every part as a 4-byte big-endian length and its bytes, hashed with SHA-512 (REPORT_DATA) or SHA-256
 * (signed data) — and not with the code under test. Every part counts: dropping one, reordering two, or reusing
 * another purpose's label gives another value.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { coordinatorReportData, LABELS, meshCertReportData, operatorCertSignedData, recoverSignedData, renewKeyPossessionData, renewSignedData, setManifestSignedData, setManifestSignedDigests, shareSeedAnswerReportData, shareSeedReportData } from './binding.js';
import { formatMeshOwnerPin, MESH_OWNER_LENGTH, meshOwnerPin, NO_MESH_OWNER, parseMeshOwnerPin } from './mesh-owner.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

/** The specified layout, written out independently: label ‖ 0x00 ‖ (u32be(len) ‖ part)*. */
function layout(label: string, parts: readonly Uint8Array[]): Buffer {
  const chunks: Buffer[] = [Buffer.from(label, 'utf8'), Buffer.from([0])];
  for (const p of parts) chunks.push(Buffer.from([(p.length >>> 24) & 0xff, (p.length >>> 16) & 0xff, (p.length >>> 8) & 0xff, p.length & 0xff]), Buffer.from(p));
  return Buffer.concat(chunks);
}
const spec = (alg: 'sha256' | 'sha512', label: string, parts: readonly Uint8Array[]): string => createHash(alg).update(layout(label, parts)).digest('hex');

// Fixed inputs. The hard-coded digests below were computed from these same inputs and layout with Python's hashlib
// (struct.pack('>I', len(p)) + p per part after label + b'\0'), outside this code base.
const tls = bytes('coordinator TLS SPKI (test bytes)');
const pod = bytes('pod SPKI (test bytes)');
const nonce = new Uint8Array(32).fill(0xa5);
const owner = Uint8Array.from({ length: 32 }, (_, i) => i);
const seed = new Uint8Array(64).fill(0x5e);
const salt = new Uint8Array(32).fill(0x5a);
const manifest = bytes('{"version":1}');
const policies = [bytes('policy one'), bytes('policy two')];
const serving = bytes('serving ECDH SPKI (test bytes)');
const sealed = bytes('sealed seed (test bytes)');
const transition = new Uint8Array(32).fill(0x7e);

/** Every list made from `parts` by dropping one part or swapping two (distinct results only). */
function variants(parts: readonly Uint8Array[]): Uint8Array[][] {
  const out: Uint8Array[][] = parts.map((_, i) => parts.filter((__, j) => j !== i));
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const v = [...parts];
      [v[i], v[j]] = [v[j]!, v[i]!];
      out.push(v);
    }
  }
  return out;
}

interface Case {
  readonly name: string;
  readonly alg: 'sha256' | 'sha512';
  readonly label: string;
  readonly parts: readonly Uint8Array[];
  readonly actual: Uint8Array;
  readonly known: string;
}

const cases: Case[] = [
  {
    name: 'coordinatorReportData', alg: 'sha512', label: 'ccmesh/coordinator-attest/v2', parts: [sha256(tls), nonce, owner],
    actual: coordinatorReportData(tls, nonce, owner),
    known: '926cfb8767c0fd6c09aa2665d1cc81dde87b4af2f1c08c5bed520e8132be62166c70cc4bc441df3e56fa96eef0663a6929ecdfb8c8ed53ce34af1dbbb4cfd15e',
  },
  {
    name: 'coordinatorReportData without an owner', alg: 'sha512', label: 'ccmesh/coordinator-attest/v2', parts: [sha256(tls), nonce, new Uint8Array(32)],
    actual: coordinatorReportData(tls, nonce, NO_MESH_OWNER),
    known: '9f45e600a30f8ae0fcec223f81a36c4f3f982b5675a5d03e3da46a97a439604634e30fc50013312dc7c536a6b3cddd27e6e5aecdeac2ee8ab9aa1bf212078d0d',
  },
  {
    name: 'meshCertReportData', alg: 'sha512', label: 'ccmesh/mesh-cert/v1', parts: [sha256(pod), nonce, sha256(tls)],
    actual: meshCertReportData(pod, nonce, tls),
    known: 'dcb6eca4b0553756de1a4a5fe1f4aa0bb294a75afad291793bb726d04c8d9d2c902ff041e94c8c77ad4bc9653c22706160b644c5a55722b2690335e1cf12ca73',
  },
  {
    name: 'renewSignedData', alg: 'sha256', label: 'ccmesh/renew-mesh-cert/v1', parts: [sha256(pod), nonce, sha256(tls)],
    actual: renewSignedData(pod, nonce, tls),
    known: 'ab0c2b9c77736f97f0a156aa14a9d520b7ed42b43486dca95ec471f834625728',
  },
  {
    name: 'renewKeyPossessionData', alg: 'sha256', label: 'ccmesh/renew-key-possession/v1', parts: [sha256(pod), nonce, sha256(tls)],
    actual: renewKeyPossessionData(pod, nonce, tls),
    known: '68bd5f3367473ccb3cb20edb6886aa24f8d09242c9625e7835261d7d53d4384c',
  },
  {
    name: 'operatorCertSignedData', alg: 'sha256', label: 'ccmesh/operator-cert/v1', parts: [sha256(pod), nonce, sha256(tls)],
    actual: operatorCertSignedData(pod, nonce, tls),
    known: '55c0cd505b939eb14fb43e48901b896f6eae5d4ee901610feff8ffa115157104',
  },
  {
    name: 'setManifestSignedData', alg: 'sha256', label: 'ccmesh/set-manifest/v1', parts: [sha256(manifest), ...policies.map(sha256), nonce, sha256(tls)],
    actual: setManifestSignedData(manifest, policies, nonce, tls),
    known: 'f09ac0e22ce0d6951e4e3944515c6a3fec612c5cd374e45957d9982b1cc445c3',
  },
  {
    name: 'recoverSignedData', alg: 'sha256', label: 'ccmesh/recover/v1', parts: [sha256(Buffer.concat([seed, salt])), nonce, sha256(tls)],
    actual: recoverSignedData(seed, salt, nonce, tls),
    known: 'a37d0d533452fde970aac57fac13e09ed973d87079265c6048304da8c7123b88',
  },
  {
    name: 'shareSeedReportData', alg: 'sha512', label: 'ccmesh/share-seed/v1', parts: [sha256(pod), nonce, sha256(tls)],
    actual: shareSeedReportData(pod, nonce, tls),
    known: '5349e865077e87cfdf9f32e35627cf14df9e0a87709fb0785001117c148360d4f435485c82fe4017d8ecd98d0fd11e12df9b190b2abbe581b1692f6e67115321',
  },
  {
    name: 'shareSeedAnswerReportData', alg: 'sha512', label: 'ccmesh/share-seed-answer/v1', parts: [sha256(serving), sha256(pod), sha256(sealed), owner, transition, sha256(tls)],
    actual: shareSeedAnswerReportData(serving, pod, sealed, owner, transition, tls),
    known: '734b4a1f29e0d371410fb009e2b5fc732fe59046db8023be6cdb36280e9fb1203cbc7d0b97473f540d85bc476bb7afac3b9abcb79496272c5d4ae22cc57327b0',
  },
];

void t.test('every binding is the specified hash over label, NUL and length-prefixed parts', (t) => {
  for (const c of cases) {
    t.equal(c.actual.length, c.alg === 'sha512' ? 64 : 32, `${c.name}: ${c.alg === 'sha512' ? 'SHA-512 (REPORT_DATA is 64 bytes)' : 'SHA-256'}`);
    t.equal(hex(c.actual), spec(c.alg, c.label, c.parts), `${c.name}: equals the layout computed here`);
    t.equal(hex(c.actual), c.known, `${c.name}: equals the known answer`);
  }
  t.equal(hex(setManifestSignedDigests(sha256(manifest), policies.map(sha256), nonce, tls)), cases.find((c) => c.name === 'setManifestSignedData')!.known, 'setManifestSignedDigests over precomputed digests: the same value');
  t.same(Object.values(LABELS).sort(), cases.filter((c) => !c.name.includes('without')).map((c) => c.label).sort(), 'every label in LABELS has a vector here');
  t.end();
});

void t.test('dropping or reordering any part, or another purpose\'s label, changes the value', (t) => {
  for (const c of cases) {
    const got = hex(c.actual);
    const others = new Set<string>();
    for (const v of variants(c.parts)) {
      const d = spec(c.alg, c.label, v);
      t.not(d, got, `${c.name}: parts [${v.map((p) => c.parts.indexOf(p)).join(', ')}] instead of [${c.parts.map((_, i) => i).join(', ')}]`);
      others.add(d);
    }
    t.equal(others.size, variants(c.parts).length, `${c.name}: and every variant differs from every other`);
    for (const label of Object.values(LABELS).filter((l) => l !== c.label)) t.not(spec(c.alg, label, c.parts), got, `${c.name}: not the value under ${label}`);
    // Without length prefixes, moving a byte from one part to the next would keep the hash.
    t.not(createHash(c.alg).update(Buffer.concat([Buffer.from(c.label + '\0'), ...c.parts])).digest('hex'), got, `${c.name}: the parts are length-prefixed, not just concatenated`);
    t.not(createHash(c.alg).update(layout(c.label, c.parts).subarray(c.label.length + 1)).digest('hex'), got, `${c.name}: the label is hashed`);
    t.not(createHash(c.alg).update(Buffer.concat([Buffer.from(c.label), layout(c.label, c.parts).subarray(c.label.length + 1)])).digest('hex'), got, `${c.name}: the label is NUL-terminated`);
  }
  t.not(hex(coordinatorReportData(tls, nonce, owner)), hex(coordinatorReportData(tls, owner, nonce)), 'coordinatorReportData: the owner and the nonce (both 32 bytes) do not swap');
  t.not(hex(coordinatorReportData(tls, nonce, owner)), spec('sha512', 'ccmesh/coordinator-attest/v1', [sha256(tls), nonce]), 'coordinatorReportData is not the retired v1 value (no owner)');
  t.not(hex(coordinatorReportData(tls, nonce, owner)), hex(coordinatorReportData(tls, nonce, NO_MESH_OWNER)), 'the owner changes REPORT_DATA');
  t.not(hex(coordinatorReportData(tls, nonce, owner)), hex(coordinatorReportData(pod, nonce, owner)), 'the TLS key changes REPORT_DATA');
  t.not(hex(setManifestSignedData(manifest, policies, nonce, tls)), hex(setManifestSignedData(manifest, [...policies].reverse(), nonce, tls)), 'setManifestSignedData: policy document order counts');
  t.not(hex(setManifestSignedData(manifest, policies, nonce, tls)), hex(setManifestSignedData(manifest, policies.slice(0, 1), nonce, tls)), 'setManifestSignedData: a dropped document counts');
  t.not(hex(recoverSignedData(seed, salt, nonce, tls)), hex(recoverSignedData(salt, seed, nonce, tls)), 'recoverSignedData: seed and salt do not swap');
  t.end();
});

/** The pin's layout, written out independently: label ‖ 0x00 ‖ u32be(#workload) ‖ u32be(#seedshare) ‖ each key sorted, length-prefixed. */
function specPin(workload: readonly Uint8Array[], seedshare: readonly Uint8Array[]): string {
  const u32 = (n: number): Buffer => Buffer.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const sorted = (keys: readonly Uint8Array[]): Buffer[] => keys.map((k) => Buffer.from(k)).sort((a, b) => (a.toString('hex') < b.toString('hex') ? -1 : a.toString('hex') > b.toString('hex') ? 1 : 0));
  const body = [Buffer.from('ccmesh/mesh-owner/v1'), Buffer.from([0]), u32(workload.length), u32(seedshare.length)];
  for (const k of [...sorted(workload), ...sorted(seedshare)]) body.push(u32(k.length), k);
  return createHash('sha256').update(Buffer.concat(body)).digest('hex');
}

void t.test('meshOwnerPin: counts first, each list sorted, keys length-prefixed', (t) => {
  const [k1, k2, k3] = [Uint8Array.of(0x01), Uint8Array.of(0x02, 0x02), Uint8Array.of(0x03, 0x03, 0x03)];
  const pin = meshOwnerPin([k2, k1], [k3]);
  t.equal(pin.length, MESH_OWNER_LENGTH);
  t.equal(hex(pin), specPin([k2, k1], [k3]), 'equals the layout computed here');
  // Python hashlib over b'ccmesh/mesh-owner/v1\0' + pack('>II', 2, 1) + (pack('>I', len(k)) + k for k in [01, 0202, 030303]).
  t.equal(hex(pin), '3bbfd02a76065af4adcf39f134c61a0fca2d26fa077c8b0ca36fe1ea23bd6631', 'known answer');
  t.equal(hex(meshOwnerPin([], [])), '8b467205e2c7bee2418f7de72aca838d95248fa6c66735cc4dc60474f72736b5', 'known answer for no keys at all');
  t.equal(hex(meshOwnerPin([k1, k2], [k3])), hex(pin), 'the order of keys in the manifest does not matter');
  const a = Uint8Array.of(0xaa, 0x01);
  const b = Uint8Array.of(0xbb);
  t.equal(hex(meshOwnerPin([a, b], [])), hex(meshOwnerPin([b, a], [])), 'sorted by bytes: lists in either order pin the same');

  const distinct = new Map<string, string>();
  const combos: [string, Uint8Array[], Uint8Array[]][] = [
    ['[k1,k2] [k3]', [k1, k2], [k3]],
    ['[k1] [k2,k3] (a key moved to the other list)', [k1], [k2, k3]],
    ['[k1,k2,k3] []', [k1, k2, k3], []],
    ['[] [k1,k2,k3]', [], [k1, k2, k3]],
    ['[k3] [k1,k2] (lists swapped)', [k3], [k1, k2]],
    ['[k1] [k3] (a key dropped)', [k1], [k3]],
    ['[k1,k2] [] (the seed-share key dropped)', [k1, k2], []],
    ['[0102] [k3] (two keys run together)', [Uint8Array.of(0x01, 0x02, 0x02)], [k3]],
    ['[k1,k2] [k3,k3] (a key repeated)', [k1, k2], [k3, k3]],
  ];
  for (const [name, w, s] of combos) {
    const h = hex(meshOwnerPin(w, s));
    t.equal(h, specPin(w, s), `${name}: the specified layout`);
    t.notOk(distinct.has(h), `${name}: a pin of its own${distinct.has(h) ? ` (same as ${distinct.get(h)})` : ''}`);
    distinct.set(h, name);
  }
  t.end();
});

void t.test('pin text: 64 hex digits; the all-zero pin means none', (t) => {
  const owner32 = meshOwnerPin([Uint8Array.of(1)], []);
  t.equal(formatMeshOwnerPin(owner32), hex(owner32));
  t.equal(formatMeshOwnerPin(NO_MESH_OWNER), '', 'NO_MESH_OWNER formats as ""');
  t.same(NO_MESH_OWNER, new Uint8Array(32), 'NO_MESH_OWNER is 32 zero bytes');
  t.same(parseMeshOwnerPin(hex(owner32).toUpperCase()), owner32, 'upper-case hex parses');
  for (const bad of ['', 'ab', hex(owner32).slice(1), `${hex(owner32)}00`, `${hex(owner32).slice(2)}zz`]) t.equal(parseMeshOwnerPin(bad), undefined, `refused: ${JSON.stringify(bad.slice(0, 12))}…`);
  // The all-zero pin is what a fresh Coordinator binds: as a pod's --mesh-owner it would accept exactly the wiped one.
  t.equal(parseMeshOwnerPin('0'.repeat(64)), undefined, 'refused: the all-zero pin (it names no owner)');
  t.same(parseMeshOwnerPin(`${'0'.repeat(63)}1`), Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 1 : 0)), 'one bit set: a pin');
  t.end();
});
