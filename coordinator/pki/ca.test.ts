/** Root and mesh CA: profile, chaining, deterministic keys after recovery, the transition bundle. */
import t from 'tap';
import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import { FixedClock } from '../../lib/clock.js';
import { ErrorCode } from '../../lib/errors.js';
import { createMeshCa, createRootCa, DEFAULT_MESH_CA_LIFETIME_MS, DEFAULT_ROOT_CA_LIFETIME_MS, meshCaBundle } from './ca.js';
import { CLOCK_SKEW_MS } from './issuance.js';
import { deriveSecrets, generateSalt, generateSeed } from './seed.js';

const T0 = Date.UTC(2026, 0, 1);
const clock = new FixedClock(T0);
const trustDomain = 'mesh.example';
const gen1 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const gen2 = 'ffeeddccbbaa00112233445566778899ffeeddccbbaa00112233445566778899';
const peculiar = (c: X509Certificate): x509.X509Certificate => new x509.X509Certificate(c.raw);
const spki = (k: KeyObject): string => (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' }).toString('hex');

void t.test('the root CA is a self-signed critical CA with keyCertSign+cRLSign and an SKI', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  t.match(root.certPem, /^-----BEGIN CERTIFICATE-----\n/);
  t.ok(root.cert.ca);
  t.equal(root.cert.subject, `CN=ccmesh root CA\nO=${trustDomain}`);
  t.equal(root.cert.issuer, root.cert.subject);
  t.ok(root.cert.verify(root.cert.publicKey), 'self-signature verifies');
  t.ok(root.cert.checkIssued(root.cert));
  t.equal(spki(root.cert.publicKey), spki(secrets.rootCaKey));
  const p = peculiar(root.cert);
  t.equal((p.signatureAlgorithm as unknown as { name: string }).name, 'ECDSA');
  t.equal((p.signatureAlgorithm as unknown as { hash: { name: string } }).hash.name, 'SHA-256');
  const bc = p.getExtension(x509.BasicConstraintsExtension)!;
  t.ok(bc.ca && bc.critical);
  t.equal(bc.pathLength, undefined);
  const ku = p.getExtension(x509.KeyUsagesExtension)!;
  t.ok(ku.critical);
  t.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  t.ok(p.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  t.equal(p.notBefore.getTime(), T0 - CLOCK_SKEW_MS);
  t.equal(p.notAfter.getTime(), T0 + DEFAULT_ROOT_CA_LIFETIME_MS);
  t.equal(p.serialNumber.length, 32, '16-byte serial');
  t.ok(/^[4-7]/.test(p.serialNumber), 'serial is positive and of fixed length');
});

void t.test('the mesh CA is issued by the root with pathLen 0, an AKI matching the root SKI, and capped validity', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock, lifetimeMs: 5 * DEFAULT_MESH_CA_LIFETIME_MS / 10 });
  const mesh = await createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: { cert: root.cert, key: secrets.rootCaKey }, trustDomain, clock });
  t.equal(mesh.cert.subject, `CN=ccmesh mesh CA ${gen1.slice(0, 12)}\nO=${trustDomain}`);
  t.equal(mesh.cert.issuer, root.cert.subject);
  t.ok(mesh.cert.ca);
  t.ok(mesh.cert.checkIssued(root.cert));
  t.ok(mesh.cert.verify(root.cert.publicKey));
  const p = peculiar(mesh.cert);
  const bc = p.getExtension(x509.BasicConstraintsExtension)!;
  t.ok(bc.ca && bc.critical);
  t.equal(bc.pathLength, 0);
  t.equal(p.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, peculiar(root.cert).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  t.equal(p.notAfter.getTime(), peculiar(root.cert).notAfter.getTime(), 'a mesh CA never outlives the root');
});

void t.test('after recovery the same seed and salt reproduce root and mesh CA keys, so old chains still verify', async (t) => {
  const seed = generateSeed();
  const salt = generateSalt();
  const before = deriveSecrets(seed, salt);
  const root = await createRootCa({ key: before.rootCaKey, trustDomain, clock });
  const mesh = await createMeshCa({ key: before.meshCaKey(gen1), generation: gen1, root: { cert: root.cert, key: before.rootCaKey }, trustDomain, clock });

  const after = deriveSecrets(Uint8Array.from(seed), Uint8Array.from(salt));
  t.equal(spki(after.rootCaKey), spki(root.cert.publicKey));
  t.equal(spki(after.meshCaKey(gen1)), spki(mesh.cert.publicKey));
  // A root CA certificate re-created after recovery differs in bytes (serial, ECDSA nonce) but is the same CA.
  const rootAgain = await createRootCa({ key: after.rootCaKey, trustDomain, clock });
  t.ok(mesh.cert.checkIssued(rootAgain.cert));
  t.ok(mesh.cert.verify(rootAgain.cert.publicKey));
  t.not(spki(after.meshCaKey(gen2)), spki(mesh.cert.publicKey), 'the next generation has a new mesh CA key');
});

void t.test('the bundle lists the current mesh CA first, then the previous one', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  const signer = { cert: root.cert, key: secrets.rootCaKey };
  const m1 = await createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: signer, trustDomain, clock });
  const m2 = await createMeshCa({ key: secrets.meshCaKey(gen2), generation: gen2, root: signer, trustDomain, clock });
  const pems = (bundle: string): string[] => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  t.same(pems(meshCaBundle(m2.cert, m1.cert)), [m2.certPem, m1.certPem]);
  t.same(pems(meshCaBundle(m2.cert)), [m2.certPem]);
  t.same(pems(meshCaBundle(m2.cert, m2.cert)), [m2.certPem], 'the same CA twice is listed once');
  t.equal(meshCaBundle(m2.cert, m1.cert), m2.certPem + m1.certPem);
});

void t.test('bad inputs are refused with stable codes', async (t) => {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  const signer = { cert: root.cert, key: secrets.rootCaKey };
  const invalid = { code: ErrorCode.PKI_INPUT_INVALID };
  await t.rejects(createRootCa({ key: secrets.rootCaKey, trustDomain: 'Bad Domain', clock }), invalid);
  await t.rejects(createRootCa({ key: secrets.historySigningKey, trustDomain, clock }), { ...invalid, message: /P-256/ });
  await t.rejects(createRootCa({ key: createPublicKey(secrets.rootCaKey), trustDomain, clock }), { ...invalid, message: /private key/ });
  await t.rejects(createRootCa({ key: secrets.rootCaKey, trustDomain, clock, lifetimeMs: 0 }), invalid);
  await t.rejects(createMeshCa({ key: secrets.meshCaKey(gen1), generation: '', root: signer, trustDomain, clock }), invalid);
  await t.rejects(createMeshCa({ key: secrets.meshCaKey(gen1), generation: 'a b', root: signer, trustDomain, clock }), invalid);
  await t.rejects(
    createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: { cert: root.cert, key: secrets.meshCaKey(gen2) }, trustDomain, clock }),
    { ...invalid, message: /does not belong to the certificate/ },
  );
  const late = new FixedClock(T0 + DEFAULT_ROOT_CA_LIFETIME_MS + 1);
  await t.rejects(createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: signer, trustDomain, clock: late }), { code: ErrorCode.PKI_CA_EXPIRED });
  const early = new FixedClock(T0 - 2 * CLOCK_SKEW_MS);
  await t.rejects(createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: signer, trustDomain, clock: early }), { code: ErrorCode.PKI_CA_EXPIRED });
});
