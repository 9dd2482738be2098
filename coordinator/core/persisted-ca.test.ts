/**
 * Stored CA certificates are the host's to rewrite. A certificate for the right (derived) key is still refused
 * unless it is, in full, the CA ccmesh makes: the host can't sign with the CA keys, but it can store a certificate
 * that carries the right public key under a bogus signature, another issuer, another name or without the CA flag.
 */
import t from 'tap';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { FixedClock } from '../../lib/clock.js';
import { x509 } from '../../lib/pki/x509.js';
import { createMeshCa, createRootCa } from '../pki/ca.js';
import { toSigningKey } from '../pki/issuance.js';
import { deriveSecrets, generateSalt, generateSeed } from '../pki/seed.js';
import { MemoryStore } from '../store/memory-store.js';
import type { CasResult, Store } from '../store/store.js';
import { loadCa, loadOrCreateCa, meshCaKey, ROOT_CA_KEY } from './persisted-ca.js';

const clock = new FixedClock(Date.UTC(2026, 0, 1));
const trustDomain = 'mesh.example';
const gen = 'a1'.repeat(32);

/** A certificate carrying `publicKey` but signed by `signer` (what a host without the CA key can make). */
async function forged(publicKey: KeyObject, signer: KeyObject, subject: string, ca: boolean): Promise<string> {
  const spki = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01', subject, issuer: subject, notBefore: new Date(Date.UTC(2025, 0, 1)), notAfter: new Date(Date.UTC(2035, 0, 1)),
    publicKey: await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
    signingKey: await toSigningKey(signer, 'forger'), signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(ca, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return cert.toString('pem');
}

void t.test('a stored CA for the right key is used only when it is the CA ccmesh makes', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  const store = new MemoryStore();
  const put = async (key: string, pem: string): Promise<void> => {
    const cur = await store.get(key);
    await store.compareAndSwap(key, cur?.revision ?? 0, new Uint8Array(Buffer.from(pem)));
  };

  await put(ROOT_CA_KEY, root.certPem);
  t.ok(await loadCa(store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' }), 'control: the genuine root loads');
  await put(ROOT_CA_KEY, await forged(secrets.rootCaKey, other, `CN=ccmesh root CA, O=${trustDomain}`, true));
  await t.rejects(loadCa(store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' }), /not the root CA ccmesh makes \(not self-signed\)/, 'the root key under a bogus signature: refused');

  const meshKey = secrets.meshCaKey(gen);
  const mesh = await createMeshCa({ key: meshKey, generation: gen, root: { cert: root.cert, key: secrets.rootCaKey }, trustDomain, clock });
  const expectMesh = { kind: 'mesh' as const, root: root.cert, generation: gen };
  await put(meshCaKey(gen), mesh.certPem);
  t.ok(await loadCa(store, meshCaKey(gen), meshKey, expectMesh), 'control: the genuine mesh CA loads');
  await t.rejects(loadCa(store, meshCaKey(gen), meshKey, { ...expectMesh, generation: 'b2'.repeat(32) }), /subject .*expected CN=ccmesh mesh CA b2b2/, 'a mesh CA stored under another generation: refused');
  const strangerRoot = await createRootCa({ key: other, trustDomain, clock });
  const byStranger = await createMeshCa({ key: meshKey, generation: gen, root: { cert: strangerRoot.cert, key: other }, trustDomain, clock });
  await put(meshCaKey(gen), byStranger.certPem);
  await t.rejects(loadCa(store, meshCaKey(gen), meshKey, expectMesh), /not issued and signed by the root CA/, 'the mesh key certified by another root: refused');
  await put(meshCaKey(gen), await forged(meshKey, other, `CN=ccmesh mesh CA ${gen.slice(0, 12)}, O=${trustDomain}`, false));
  await t.rejects(loadCa(store, meshCaKey(gen), meshKey, expectMesh), /not a CA|not issued and signed/, 'the mesh key in a forged non-CA certificate: refused');
  await put(meshCaKey(gen), 'not a certificate');
  await t.rejects(loadCa(store, meshCaKey(gen), meshKey, expectMesh), /holds no readable certificate/, 'garbage: refused with a clear error');
});

void t.test('a stored CA for another key is refused, even a genuine ccmesh CA of another seed', async (t) => {
  const ours = deriveSecrets(generateSeed(), generateSalt());
  const theirs = deriveSecrets(generateSeed(), generateSalt());
  const store = new MemoryStore();
  // The host swaps in the root CA of a history it made itself: self-signed, ccmesh's name and constraints, another key.
  const theirRoot = await createRootCa({ key: theirs.rootCaKey, trustDomain, clock });
  await store.compareAndSwap(ROOT_CA_KEY, 0, new Uint8Array(Buffer.from(theirRoot.certPem)));
  t.ok(await loadCa(store, ROOT_CA_KEY, theirs.rootCaKey, { kind: 'root' }), 'control: it is a CA ccmesh makes, for its own key');
  await t.rejects(loadCa(store, ROOT_CA_KEY, ours.rootCaKey, { kind: 'root' }), /state\/root-ca holds a certificate for another key/, 'our root key: refused');

  // A mesh CA that our root did sign, with the right name, but for another key: refused too.
  const ourRoot = await createRootCa({ key: ours.rootCaKey, trustDomain, clock });
  const theirMesh = await createMeshCa({ key: theirs.meshCaKey(gen), generation: gen, root: { cert: ourRoot.cert, key: ours.rootCaKey }, trustDomain, clock });
  await store.compareAndSwap(meshCaKey(gen), 0, new Uint8Array(Buffer.from(theirMesh.certPem)));
  const expectMesh = { kind: 'mesh' as const, root: ourRoot.cert, generation: gen };
  t.ok(await loadCa(store, meshCaKey(gen), theirs.meshCaKey(gen), expectMesh), 'control: signed by our root, with the right name, for its own key');
  await t.rejects(loadCa(store, meshCaKey(gen), ours.meshCaKey(gen), expectMesh), /holds a certificate for another key/, 'our mesh key: refused');
});

void t.test('a CA whose store write lost to a writer whose entry then vanished is never handed out; the create is retried', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const inner = new MemoryStore();
  let lose = 1;
  // The host (or a racing replica followed by a wipe) makes the first compare-and-swap fail while the key stays empty.
  const store: Store = {
    get: (k) => inner.get(k),
    list: (p) => inner.list(p),
    watch: (p, l) => inner.watch(p, l),
    close: () => inner.close(),
    compareAndSwap: async (k, e, v): Promise<CasResult> => (lose-- > 0 ? { ok: false, current: undefined } : inner.compareAndSwap(k, e, v)),
  };
  let creates = 0;
  const ca = await loadOrCreateCa(store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' }, () => {
    creates++;
    return createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  });
  const stored = await inner.get(ROOT_CA_KEY);
  t.ok(stored, 'a CA is stored');
  t.equal(ca.certPem, Buffer.from(stored!.value).toString('utf8'), 'the CA returned is the one the store holds');
  t.equal(creates, 2, 'created again after the lost write');

  lose = 10;
  const other = deriveSecrets(generateSeed(), generateSalt());
  await t.rejects(loadOrCreateCa(store, meshCaKey(gen), other.rootCaKey, { kind: 'root' }, () => createRootCa({ key: other.rootCaKey, trustDomain, clock })),
    /changed under 3 attempts/, 'a store that never keeps the write: a clear error, no CA');
});
