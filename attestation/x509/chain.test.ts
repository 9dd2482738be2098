/** Pinned-anchor path checks and CRL parsing on real AMD and Intel material (expectations from facts.json). */
import t from 'tap';
import fc from 'fast-check';
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
