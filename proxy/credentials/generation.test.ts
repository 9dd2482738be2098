/**
 * What a credential generation must satisfy before it is used: the key matches the leaf, the leaf is valid now and
 * issued by a CA of the bundle, and every bundle CA is a CA issued — named and signed — by the pinned root. Each
 * case below breaks exactly one of these and expects that one reason; with a pinned root (the sidecar's), the root
 * must be that certificate.
 */
import t from 'tap';
import { generateKeyPairSync, type X509Certificate } from 'node:crypto';
import { systemClock } from '../../lib/clock.js';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import { TestMesh, withSwappedKey } from '../test/pki.js';
import { buildGeneration, refusalOf, type CredentialFiles } from './generation.js';

const pem = (c: X509Certificate): string => c.toString();

void t.test('a generation is refused for exactly the check it fails', async (t) => {
  const mesh = await TestMesh.create();
  const other = await TestMesh.create('other.local');
  const { files } = await mesh.leaf(['web', 'web.default.svc']);
  const meshCa = mesh.meshCas[0]!.cert;
  const now = Date.now();
  const refused = (f: CredentialFiles, nowMs = now): string => {
    const res = buildGeneration(f, nowMs);
    return res.ok ? 'accepted' : res.reason;
  };
  t.equal(refused(files), 'accepted', 'control: the pod\'s own files make a generation');

  // The bundle: a CA the root never signed, next to the real one (the leaf stays covered by the real one).
  const foreignCa = other.meshCas[0]!.cert;
  t.match(refused({ ...files, meshCaBundle: pem(meshCa) + pem(foreignCa) }), /^mesh CA .* is not a CA issued by the root$/, 'a bundle CA of another root: refused');
  // The real CA's names and key identifiers with another key: the root's signature no longer verifies.
  const forged = withSwappedKey(meshCa);
  t.ok(forged.checkIssued(mesh.root.cert), 'control: by name and key identifier the forged CA looks issued by the root');
  t.match(refused({ ...files, meshCaBundle: pem(meshCa) + pem(forged) }), /^mesh CA .* is not a CA issued by the root$/, 'a bundle CA whose root signature does not verify: refused');
  // A certificate the root did sign, but not a CA.
  const rootSignedLeaf = await issueLeaf({ publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, sans: ['ca-lookalike'], spiffeId: 'spiffe://ccmesh.local/x', policyHash: 'ab'.repeat(32), lifetimeMs: 3600_000, meshCa: mesh.root, clock: systemClock });
  t.ok(rootSignedLeaf.cert.verify(mesh.root.cert.publicKey), 'control: the root signed it');
  t.match(refused({ ...files, meshCaBundle: pem(meshCa) + rootSignedLeaf.certPem }), /^mesh CA .* is not a CA issued by the root$/, 'a root-signed non-CA certificate in the bundle: refused');

  // The leaf: from another mesh (its own CA shipped in the chain), with our bundle and root.
  const stranger = await other.leaf(['web', 'web.default.svc']);
  t.equal(refused({ ...files, key: stranger.files.key, chain: stranger.files.chain }), 'the leaf is not issued by any CA of the mesh CA bundle', 'a leaf of another CA: refused');
  t.match(refused(files, now + 2 * 3600_000), /^the leaf is valid from .* not now$/, 'an expired leaf: refused');
  t.match(refused(files, now - 2 * 3600_000), /^the leaf is valid from .* not now$/, 'a leaf not yet valid: refused');
  const otherKey = (await mesh.leaf(['web'])).files.key;
  t.equal(refused({ ...files, key: otherKey }), 'the key does not match the leaf certificate (files mid-update?)', 'a key of another leaf: refused');

  // Sizes, bounded before parsing: a bundle of the current and the previous CA at most, a chain of leaf and CA, one root.
  const second = await mesh.addMeshCa();
  t.equal(refused({ ...files, meshCaBundle: mesh.bundle() }), 'accepted', 'control: current + previous CA');
  t.equal(refused({ ...files, meshCaBundle: mesh.bundle() + pem(meshCa) }), 'the mesh CA bundle holds 3 certificates; it holds the current and at most the previous mesh CA', 'three CAs: refused');
  t.equal(refused({ ...files, meshCaBundle: pem(meshCa) + pem(meshCa) }), 'the mesh CA bundle lists a certificate twice', 'a CA listed twice: refused');
  t.equal(refused({ ...files, chain: files.chain + pem(second.cert) }), 'chain.pem holds more than the leaf and its mesh CA', 'a chain of three: refused');
  t.equal(refused({ ...files, rootCa: files.rootCa + files.rootCa }), 'root-ca.pem holds more than one certificate', 'two roots: refused');
});

void t.test('with a pinned root, a generation under any other root is refused as root-changed, however consistent', async (t) => {
  const mesh = await TestMesh.create();
  const attacker = await TestMesh.create();
  const { files } = await mesh.leaf(['web']);
  const pinned = mesh.root.cert;
  const judged = (f: CredentialFiles): { ok: boolean; reason?: string; refusal?: string } => {
    const res = buildGeneration(f, Date.now(), pinned);
    return res.ok ? { ok: true } : { ok: false, reason: res.reason, refusal: refusalOf(res) };
  };
  t.same(judged(files), { ok: true }, 'control: the pod\'s own files under the pinned root');
  t.same(judged({ ...files, rootCa: files.rootCa.replace(/\n/g, '\r\n') }), { ok: true }, 'control: the same root certificate written differently');

  // A whole directory of the attacker's: root, bundle, key and a leaf with our SAN, consistent among themselves.
  const theirs = (await attacker.leaf(['web'])).files;
  t.equal(buildGeneration(theirs, Date.now()).ok, true, 'control: without a pin the attacker\'s directory is a valid generation');
  t.match(judged(theirs), { ok: false, refusal: 'root-changed', reason: /^root-ca\.pem holds root CA .*, not the root this sidecar started with \(/ }, 'the attacker\'s directory: refused for its root');
  // Only root-ca.pem swapped (our bundle and leaf still chain to the pinned root): still refused, for the root.
  t.match(judged({ ...files, rootCa: attacker.root.certPem }), { ok: false, refusal: 'root-changed' }, 'another root beside our own bundle and leaf: refused');
  // The pinned root, with the attacker's mesh CA added to the bundle: refused as a foreign CA.
  t.match(judged({ ...files, meshCaBundle: files.meshCaBundle + attacker.bundle() }), { ok: false, refusal: 'foreign-ca', reason: /is not a CA issued by the root$/ }, 'a CA of another root in the bundle: foreign-ca');
  t.match(judged({ ...files, key: theirs.key }), { ok: false, refusal: 'invalid' }, 'any other failure: invalid');
});
