/** The pinned ARKs are exactly the ARKs of AMD's VCEK and VLEK bundles, with the fingerprints facts.json records. */
import { createHash } from 'node:crypto';
import t from 'tap';
import { factOf, readSample } from '../../test/fixtures.js';
import { parseCertificates } from '../x509/pem.js';
import { amdArkCertificates, amdArks, ARK_SHA256 } from './roots.js';

const bundles = {
  milan: ['snp/ask_ark_milan.pem', 'snp/ask_ark_milan_vlek.pem'],
  genoa: ['snp/ask_ark_genoa.pem', 'snp/ask_ark_genoa_vlek.pem'],
  turin: ['snp/ask_ark_turin_vcek.pem', 'snp/ask_ark_turin_vlek.pem'],
} as const;

void t.test('each pinned ARK equals the second certificate of both bundles of its product', (t) => {
  const arks = amdArks();
  t.same(arks.map((a) => a.product), ['milan', 'genoa', 'turin']);
  for (const { product, cert } of arks) {
    for (const rel of bundles[product]) {
      const certs = parseCertificates(readSample(rel), rel);
      t.equal(certs.length, 2, `${rel} holds intermediate + ARK`);
      t.ok(Buffer.from(certs[1]!.raw).equals(cert.raw), `${product} ARK is the ARK of ${rel}`);
      const fact = factOf(rel) as unknown as { certs_in_order: { role: string; sha256_der: string; subject: string }[] };
      t.equal(fact.certs_in_order[1]?.role, 'ARK');
      t.equal(createHash('sha256').update(cert.raw).digest('hex'), fact.certs_in_order[1]?.sha256_der);
      t.equal(ARK_SHA256[product], fact.certs_in_order[1]?.sha256_der);
      t.match(cert.subject, new RegExp(`CN=ARK-${product[0]!.toUpperCase()}${product.slice(1)}`));
    }
    t.ok(cert.verify(cert.publicKey), `${product} ARK is self-signed (RSASSA-PSS)`);
  }
  t.end();
});

void t.test('parsed once and frozen', (t) => {
  t.equal(amdArks(), amdArks());
  t.equal(amdArkCertificates(), amdArkCertificates());
  t.ok(Object.isFrozen(amdArks()));
  t.equal(amdArkCertificates().length, 3);
  t.end();
});
