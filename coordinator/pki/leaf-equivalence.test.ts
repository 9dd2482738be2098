/**
 * The hand-encoded leaf against the @peculiar/x509 path it replaced (leaf-reference.ts): for the same inputs and
 * clock, every tbsCertificate field but the random serial is byte-identical, both views (Node and @peculiar/x509)
 * agree field by field, and the new leaf verifies under the mesh CA. TLS use of the new leaf is in leaf.test.ts.
 */
import t from 'tap';
import { createHash, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import { children, readOne, Tag } from '../../lib/asn1/der.js';
import { FixedClock, type Clock } from '../../lib/clock.js';
import { ErrorCode } from '../../lib/errors.js';
import { createMeshCa, createRootCa } from './ca.js';
import { readIssuerFields } from './der-issuer.js';
import type { IssuedCertificate } from './issuance.js';
import { DEFAULT_LEAF_LIFETIME_MS, issueLeaf, type LeafOptions } from './leaf.js';
import { issueLeafReference } from '../../test/support/coordinator/leaf-reference.js';
import { deriveSecrets, generateSalt, generateSeed } from './seed.js';
import { spiffeIdFor } from '../../contract/spiffe-id.js';
import { ipSanBytes, MAX_SANS } from './subject-alt-names.js';

const trustDomain = 'mesh.example';
const policyHash = 'AB'.repeat(16) + '0123456789abcdef'.repeat(2);
const gen = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

async function meshCa(clock: Clock): Promise<{ mesh: IssuedCertificate; key: KeyObject }> {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  const key = secrets.meshCaKey(gen);
  const mesh = await createMeshCa({ key, generation: gen, root: { cert: root.cert, key: secrets.rootCaKey }, trustDomain, clock });
  return { mesh, key };
}

/** tbsCertificate fields as DER, with the serial's value (random) replaced by its length. */
function tbsFields(der: Uint8Array): string[] {
  const [tbs] = children(readOne(der, Tag.SEQUENCE));
  return children(tbs!).map((f, i) => (i === 1 ? `serial of ${f.value.length} bytes` : Buffer.from(f.raw).toString('hex')));
}

/** What either library shows of a certificate, minus the serial value and signature. */
function views(der: Uint8Array) {
  const node = new X509Certificate(der);
  const p = new x509.X509Certificate(der);
  return {
    node: { subject: node.subject, issuer: node.issuer, validFrom: node.validFrom, validTo: node.validTo, san: node.subjectAltName, eku: node.keyUsage, ca: node.ca, serialHexChars: node.serialNumber.length },
    peculiar: {
      subject: p.subject,
      issuer: p.issuer,
      notBefore: p.notBefore.toISOString(),
      notAfter: p.notAfter.toISOString(),
      serialHexChars: p.serialNumber.length,
      signatureAlgorithm: p.signatureAlgorithm,
      extensions: p.extensions.map((e) => ({ oid: e.type, critical: e.critical, value: Buffer.from(e.value).toString('hex') })),
    },
  };
}

const cases: { name: string; sans: string[]; at: number; lifetimeMs?: number }[] = [
  { name: 'typical', sans: ['web.default.svc', '*.web.default.svc.cluster.local', '127.0.0.1', '::1', 'WEB.example'], at: Date.UTC(2026, 2, 1, 12, 0, 0, 500) },
  { name: 'no SANs (SPIFFE URI only)', sans: [], at: Date.UTC(2026, 2, 1) },
  { name: 'IPv6 shapes', sans: ['::', '1::', 'fd00::1', '2001:db8::8:800:200C:417A', '1:2:3:4:5:6:7:8', '0:0:0:0:0:0:0:1'], at: Date.UTC(2031, 6, 4, 1, 2, 3) },
  // 100 names push the SAN and extension lengths into two-octet long form.
  { name: `${MAX_SANS} SANs`, sans: Array.from({ length: MAX_SANS }, (_, i) => (i % 3 === 0 ? `10.0.${i >> 8}.${i & 0xff}` : `svc-${i}.ns.svc.cluster.local`)), at: Date.UTC(2026, 0, 1) },
  // notAfter crosses into 2050: GeneralizedTime, while notBefore stays UTCTime.
  { name: 'validity across 2050', sans: ['a.example'], at: Date.UTC(2049, 11, 31, 12), lifetimeMs: DEFAULT_LEAF_LIFETIME_MS },
];

for (const c of cases) {
  void t.test(`same profile as the @peculiar/x509 path: ${c.name}`, async (t) => {
    const clock = new FixedClock(c.at);
    const { mesh, key } = await meshCa(clock);
    const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const publicKey of [pod.publicKey.export({ format: 'der', type: 'spki' }), pod.publicKey, pod.privateKey]) {
      const opts: LeafOptions = {
        publicKey,
        sans: c.sans,
        spiffeId: spiffeIdFor(trustDomain, 'ns/web'),
        policyHash,
        lifetimeMs: c.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS,
        meshCa: { cert: mesh.cert, key },
        clock,
      };
      const ours = await issueLeaf(opts);
      const ref = await issueLeafReference(opts);
      t.same(tbsFields(ours.der), tbsFields(ref.der), 'tbsCertificate identical but for the serial value');
      t.same(views(ours.der), views(ref.der), 'Node and @peculiar/x509 see the same certificate');
      t.equal(views(ours.der).peculiar.serialHexChars, 32, '16-byte serial');
      t.ok(ours.cert.checkIssued(mesh.cert) && ours.cert.verify(mesh.cert.publicKey), 'Node verifies it under the mesh CA');
      t.ok(await new x509.X509Certificate(ours.der).verify({ publicKey: new x509.X509Certificate(mesh.der).publicKey, signatureOnly: true }), '@peculiar/x509 verifies it too');
      t.equal(ours.certPem, ours.cert.toString(), 'PEM matches Node\'s');
      t.equal(Object.getPrototypeOf(ours.der), Uint8Array.prototype, 'der is a plain Uint8Array, as before');
    }
  });
}

void t.test('the issuer key identifier: the CA\'s SKI, else SHA-1 of its public key as @peculiar/x509 computes it', async (t) => {
  const { mesh } = await meshCa(new FixedClock(Date.UTC(2026, 0, 1)));
  const ski = new x509.X509Certificate(mesh.der).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  t.equal(readIssuerFields(mesh.der).keyId.toString('hex'), ski);
  t.same(readIssuerFields(mesh.der).name, Buffer.from(new x509.X509Certificate(mesh.der).subjectName.toArrayBuffer()));

  const keys = await x509.cryptoProvider.get().subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const bare = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=no ski', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  t.notOk(bare.getExtension(x509.SubjectKeyIdentifierExtension), 'the sample has no SKI');
  const want = await x509.AuthorityKeyIdentifierExtension.create(bare.publicKey);
  t.equal(readIssuerFields(new Uint8Array(bare.rawData)).keyId.toString('hex'), want.keyId);
  const spki = Buffer.from(bare.publicKey.rawData);
  t.equal(want.keyId, createHash('sha1').update(spki.subarray(spki.length - 65)).digest('hex'), 'method 1 of RFC 5280 §4.2.1.2');
});

void t.test('IP SANs: IPv4-mapped IPv6 is encoded correctly and zone ids are refused', async (t) => {
  t.equal(ipSanBytes('::ffff:1.2.3.4').toString('hex'), '00000000000000000000ffff01020304');
  t.equal(ipSanBytes('::1.2.3.4').toString('hex'), '00000000000000000000000001020304');
  t.equal(ipSanBytes('1:2:3:4:5:6:1.2.3.4').toString('hex'), '00010002000300040005000601020304');
  t.equal(ipSanBytes('10.1.2.255').toString('hex'), '0a0102ff');
  t.throws(() => ipSanBytes('fe80::1%eth0'), { code: ErrorCode.PKI_INPUT_INVALID });
  t.throws(() => ipSanBytes('web.example'), { code: ErrorCode.PKI_INPUT_INVALID });

  const clock = new FixedClock(Date.UTC(2026, 0, 1));
  const { mesh, key } = await meshCa(clock);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const base = { publicKey: pod.publicKey, spiffeId: spiffeIdFor(trustDomain, 'w'), policyHash, lifetimeMs: 3_600_000, meshCa: { cert: mesh.cert, key }, clock };
  const leaf = await issueLeaf({ ...base, sans: ['::ffff:10.0.0.1'] });
  t.equal(leaf.cert.subjectAltName, 'IP Address:0:0:0:0:0:FFFF:A00:1, URI:spiffe://mesh.example/w');
  await t.rejects(issueLeaf({ ...base, sans: ['fe80::1%eth0'] }), { code: ErrorCode.PKI_INPUT_INVALID, message: /fe80::1%eth0/ });
});

void t.test('SPKI bytes that are not in canonical form are refused, never copied into a certificate', async (t) => {
  const clock = new FixedClock(Date.UTC(2026, 0, 1));
  const { mesh, key } = await meshCa(clock);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = pod.publicKey.export({ format: 'der', type: 'spki' });
  const base = { sans: [], spiffeId: spiffeIdFor(trustDomain, 'w'), policyHash, lifetimeMs: 3_600_000, meshCa: { cert: mesh.cert, key }, clock };
  // OpenSSL ignores trailing bytes after the SPKI; ccmesh reads the key itself (lib/pki/key-details.ts) and refuses them.
  const trailing = Buffer.concat([spki, Buffer.of(0, 0)]);
  await t.rejects(issueLeaf({ ...base, publicKey: trailing }), { code: ErrorCode.PKI_INPUT_INVALID, message: /is not an SPKI DER public key/ }, 'trailing bytes after the SPKI: refused');
  const leaf = await issueLeaf({ ...base, publicKey: spki });
  t.same(leaf.cert.publicKey.export({ format: 'der', type: 'spki' }), spki, 'control: the canonical SPKI is certified as it is');
  t.ok(leaf.cert.verify(mesh.cert.publicKey));
});
