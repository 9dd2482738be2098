/** Pinned-anchor path checks and CRL parsing on real AMD and Intel material (expectations from facts.json). */
import type { webcrypto } from 'node:crypto';
import t from 'tap';
import fc from 'fast-check';
import { x509 } from '../../lib/pki/x509.js';
import { factOf, readSample } from '../../test/fixtures.js';
import { checkChain } from './chain.js';
import { crlSignedBy, parseCrl } from './crl.js';
import { parseCertificate, parseCertificates } from './pem.js';

const milan = parseCertificates(readSample('snp/ask_ark_milan.pem'), 'milan chain');
const genoa = parseCertificates(readSample('snp/ask_ark_genoa.pem'), 'genoa chain');
const vcek = parseCertificate(readSample('snp/gsg-milan-v2.vcek.der'), 'vcek');
const at = new Date('2024-01-01T00:00:00Z');

const path = (ask = milan[0]!, ark = milan[1]!) => [
  { cert: vcek, role: 'VCEK' },
  { cert: ask, role: 'ASK' },
  { cert: ark, role: 'ARK' },
];

void t.test('a genuine VCEK chain to a pinned ARK has no reasons', (t) => {
  t.same(checkChain({ path: path(), anchors: [milan[1]!], at }), []);
  t.end();
});

void t.test('an unpinned root, a foreign intermediate and the wrong time each give a reason', (t) => {
  t.match(checkChain({ path: path(), anchors: [genoa[1]!], at }).join('\n'), /not a pinned trust anchor/);
  t.match(checkChain({ path: path(), anchors: [], at }).join('\n'), /not a pinned trust anchor/);
  const foreign = checkChain({ path: path(genoa[0]!, genoa[1]!), anchors: [milan[1]!, genoa[1]!], at });
  t.match(foreign.join('\n'), /VCEK certificate issuer does not name the ASK/);
  const vcekWindow = (factOf('snp/gsg-milan-v2.vcek.der').cert as { not_before: string; not_after: string });
  const before = new Date(new Date(vcekWindow.not_before).getTime() - 1000);
  const after = new Date(new Date(vcekWindow.not_after).getTime() + 1000);
  t.match(checkChain({ path: path(), anchors: [milan[1]!], at: before }).join('\n'), /VCEK certificate is not valid before/);
  t.match(checkChain({ path: path(), anchors: [milan[1]!], at: after }).join('\n'), /VCEK certificate expired/);
  t.match(checkChain({ path: [], anchors: [milan[1]!], at }).join('\n'), /empty/);
  t.end();
});

void t.test('Intel CRLs parse to the recorded dates and counts and verify with their issuer', (t) => {
  const crl = parseCrl(readSample('tdx/collateral/pck_platform_ca.crl.der'));
  const f = factOf('tdx/collateral/pck_platform_ca.crl.der').crl as { this_update: string; next_update: string; revoked_count: number };
  t.equal(crl.thisUpdate.toISOString(), new Date(f.this_update).toISOString());
  t.equal(crl.nextUpdate?.toISOString(), new Date(f.next_update).toISOString());
  t.equal(crl.revokedSerials.size, f.revoked_count);
  t.equal(crl.algorithm.kind, 'ecdsa');
  const root = parseCertificate(readSample('tdx/collateral/intel_sgx_root_ca.pem'), 'root');
  const rootCrl = parseCrl(readSample('tdx/collateral/intel_sgx_root_ca.crl.der'));
  t.equal(crlSignedBy(rootCrl, root.publicKey), true, 'root CRL is signed by the root');
  t.equal(crlSignedBy(rootCrl, milan[1]!.publicKey), false, 'and not by an unrelated key');
  t.end();
});

void t.test('property: mutated CRL bytes parse or throw, never crash the process or hang', (t) => {
  const good = readSample('tdx/collateral/pck_platform_ca.crl.der');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const bytes = new Uint8Array(good);
      bytes[i] = v;
      try {
        parseCrl(bytes);
      } catch (err) {
        return err instanceof Error;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.end();
});

/** A small test PKI: self-signed roots, issued certificates and CRLs, for chain defects real material never has. */
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const newKeys = () => x509.cryptoProvider.get().subtle.generateKey(ECDSA, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
const window = { notBefore: new Date('2023-01-01T00:00:00Z'), notAfter: new Date('2025-01-01T00:00:00Z') };
const caExtensions = (ca: boolean) => [new x509.BasicConstraintsExtension(ca, undefined, true), new x509.KeyUsagesExtension(ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature, true)];
const toNode = (c: x509.X509Certificate) => parseCertificate(new Uint8Array(c.rawData), c.subject);

async function selfSigned(name: string, keys: webcrypto.CryptoKeyPair) {
  return x509.X509CertificateGenerator.createSelfSigned({ ...window, name, keys, signingAlgorithm: ECDSA, extensions: caExtensions(true) });
}
async function issued(subject: string, publicKey: webcrypto.CryptoKey, issuer: string, signingKey: webcrypto.CryptoKey, ca: boolean) {
  return x509.X509CertificateGenerator.create({ ...window, subject, issuer, publicKey, signingKey, signingAlgorithm: ECDSA, extensions: caExtensions(ca) });
}

void t.test('a certificate naming the root but signed by another key is refused by its signature alone', async (t) => {
  const [realRoot, lookalike, leafKeys] = await Promise.all([newKeys(), newKeys(), newKeys()]);
  const leaf = toNode(await issued('CN=leaf', leafKeys.publicKey, 'CN=Test Root', realRoot.privateKey, false));
  const fakeRoot = toNode(await selfSigned('CN=Test Root', lookalike)); // same name, other key
  const genuineRoot = toNode(await selfSigned('CN=Test Root', realRoot));
  t.same(checkChain({ path: [{ cert: leaf, role: 'leaf' }, { cert: genuineRoot, role: 'root' }], anchors: [genuineRoot], at }), [], 'the genuine path passes');
  t.same(checkChain({ path: [{ cert: leaf, role: 'leaf' }, { cert: fakeRoot, role: 'root' }], anchors: [fakeRoot], at }), ['leaf certificate signature does not verify with the root key']);
});

void t.test('a certificate that is not a CA cannot issue the next one in the path', async (t) => {
  const [rootKeys, midKeys, leafKeys] = await Promise.all([newKeys(), newKeys(), newKeys()]);
  const root = toNode(await selfSigned('CN=Test Root', rootKeys));
  const endEntity = toNode(await issued('CN=not a CA', midKeys.publicKey, 'CN=Test Root', rootKeys.privateKey, false));
  const properCa = toNode(await issued('CN=not a CA', midKeys.publicKey, 'CN=Test Root', rootKeys.privateKey, true));
  const leaf = toNode(await issued('CN=leaf', leafKeys.publicKey, 'CN=not a CA', midKeys.privateKey, false));
  const path = (mid: typeof root) => [{ cert: leaf, role: 'leaf' }, { cert: mid, role: 'intermediate' }, { cert: root, role: 'root' }];
  t.same(checkChain({ path: path(properCa), anchors: [root], at }), [], 'with a CA intermediate the path passes');
  t.same(checkChain({ path: path(endEntity), anchors: [root], at }), ['intermediate certificate is not a CA but issued the leaf certificate']);
});

void t.test('a CRL is applied only when its issuer signed it', async (t) => {
  const [rootKeys, forger, leafKeys] = await Promise.all([newKeys(), newKeys(), newKeys()]);
  const root = toNode(await selfSigned('CN=Test Root', rootKeys));
  const leaf = toNode(await issued('CN=leaf', leafKeys.publicKey, 'CN=Test Root', rootKeys.privateKey, false));
  const crl = async (signingKey: webcrypto.CryptoKey) =>
    parseCrl(new Uint8Array((await x509.X509CrlGenerator.create({
      issuer: 'CN=Test Root', thisUpdate: new Date('2023-06-01T00:00:00Z'), nextUpdate: new Date('2024-06-01T00:00:00Z'),
      signingAlgorithm: ECDSA, signingKey, entries: [{ serialNumber: leaf.serialNumber, revocationDate: new Date('2023-06-01T00:00:00Z') }],
    })).rawData));
  const path = [{ cert: leaf, role: 'leaf' }, { cert: root, role: 'root' }];
  t.same(checkChain({ path, anchors: [root], at, crls: [await crl(rootKeys.privateKey)] }), [`leaf certificate (serial ${leaf.serialNumber}) is revoked by the root CRL`], 'the root\'s own CRL revokes the leaf');
  t.same(checkChain({ path, anchors: [root], at, crls: [await crl(forger.privateKey)] }), ['CRL issued by the root does not verify with its key'], 'a forged CRL is refused, not applied');
});
