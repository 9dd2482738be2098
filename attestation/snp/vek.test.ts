/**
 * VCEK/VLEK extension parsing against facts.json (every AMD extension of every sample, raw and decoded), the
 * Turin differences (8-byte hwID, fmcSPL, no spl_4), PEM input and refusal of anything that isn't a P-384 VEK.
 */
import t from 'tap';
import type tap from 'tap';
import { toHex } from '../../lib/bytes.js';
import { factOf, facts, readSample } from '../../test/fixtures.js';
import { parseCertificates } from '../x509/pem.js';
import { derIa5, derInteger } from '../../test/support/attestation/fake-amd-pki.js';
import { SnpParseError } from './parse-error.js';
import { infinitySpki, withSpki } from '../../test/support/pki/hostile-keys.js';
import { parseVek, parseVekExtensions } from './vek.js';

interface ExtFact { name: string; value: number | string; raw_extension_value_hex: string }

const vekSamples = Object.entries(facts().files)
  .filter(([, f]) => f.kind === 'amd-vcek-certificate')
  .map(([rel]) => rel)
  .sort();

function expectParseError(t: Pick<typeof tap, 'ok' | 'match'>, fn: () => unknown, re: RegExp): void {
  try {
    fn();
    t.ok(false, `expected SnpParseError matching ${re}`);
  } catch (err) {
    t.ok(err instanceof SnpParseError, `SnpParseError (got ${String(err)})`);
    t.match((err as Error).message, re);
  }
}

void t.test('facts.json lists three VCEK samples', (t) => {
  t.same(vekSamples, ['snp/gsg-milan-v2.vcek.der', 'snp/trustee-milan-v2.vcek.der', 'snp/virtee-turin.vcek.der']);
  t.end();
});

for (const rel of vekSamples) {
  void t.test(`${rel}: AMD extensions equal facts.json`, (t) => {
    const f = factOf(rel) as unknown as { product: string; amd_extensions: Record<string, ExtFact> };
    const vek = parseVek(readSample(rel));
    const ext = vek.extensions;
    t.same([...ext.raw.keys()].sort(), Object.keys(f.amd_extensions).sort(), 'the same AMD OIDs');
    for (const [oid, fact] of Object.entries(f.amd_extensions)) {
      t.equal(toHex(ext.raw.get(oid) ?? new Uint8Array()), fact.raw_extension_value_hex, `${fact.name} raw value`);
      if (fact.name === 'structVersion') t.equal(ext.structVersion, fact.value);
      else if (fact.name === 'productName') t.equal(ext.productName, fact.value);
      else if (fact.name === 'hwID') t.equal(toHex(ext.hwId ?? new Uint8Array()), fact.value);
      else t.equal(ext.spls[fact.name as keyof typeof ext.spls], fact.value, fact.name);
    }
    t.equal(vek.product, f.product.toLowerCase());
    t.equal(ext.cspId, undefined, 'a VCEK has no cspID');
    t.equal(vek.publicKey.asymmetricKeyType, 'ec');
    t.equal(vek.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    t.end();
  });
}

void t.test('Turin VCEK: 8-byte hwID, fmcSPL, structVersion 1, no spl_4', (t) => {
  const ext = parseVek(readSample('snp/virtee-turin.vcek.der')).extensions;
  t.equal(ext.hwId?.length, 8);
  t.equal(toHex(ext.hwId!), '1e550a8ee5cf9f4d');
  t.equal(ext.spls.fmcSPL, 0);
  t.equal(ext.spls.ucodeSPL, 9);
  t.equal(ext.spls.spl_4, undefined);
  t.equal(ext.structVersion, 1);
  t.end();
});

void t.test('PEM input gives the same VEK as DER', (t) => {
  const der = readSample('snp/gsg-milan-v2.vcek.der');
  const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  const a = parseVek(der);
  const b = parseVek(new Uint8Array(Buffer.from(pem)));
  t.equal(toHex(b.der), toHex(a.der));
  t.equal(toHex(b.extensions.hwId!), toHex(a.extensions.hwId!));
  t.end();
});

void t.test('refuses non-certificates, bundles, RSA keys and malformed extensions', (t) => {
  expectParseError(t, () => parseVek(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), /VEK certificate is not readable/);
  expectParseError(t, () => parseVek(new Uint8Array(0)), /not readable/);
  expectParseError(t, () => parseVek(readSample('snp/gsg-milan-v2.vcek.der').subarray(0, 500)), /not readable/);
  expectParseError(t, () => parseVek(readSample('snp/ask_ark_milan.pem')), /exactly one CERTIFICATE block, found 2/);
  const ask = parseCertificates(readSample('snp/ask_ark_milan.pem'), 'chain')[0]!;
  expectParseError(t, () => parseVek(new Uint8Array(ask.raw)), /EC P-384, found rsa/);
  t.end();
});

void t.test('extension values: SPLs must be one-byte INTEGERs, productName an IA5String', (t) => {
  const der = readSample('snp/gsg-milan-v2.vcek.der');
  // Patch the blSPL value (02 01 02) into other encodings of the same length and check each is judged correctly.
  const f = factOf('snp/gsg-milan-v2.vcek.der') as unknown as { amd_extensions: Record<string, ExtFact> };
  t.equal(f.amd_extensions['1.3.6.1.4.1.3704.1.3.1']?.raw_extension_value_hex, '020102');
  const oid = Buffer.from('2b060104019c780103', 'hex'); // 1.3.6.1.4.1.3704.1.3 prefix
  const at = Buffer.from(der).indexOf(Buffer.concat([oid, Buffer.from([0x01])]));
  t.ok(at > 0, 'found blSPL OID');
  const valueAt = Buffer.from(der).indexOf(Buffer.from('04030201', 'hex'), at) + 2; // OCTET STRING(3) { 02 01 xx }
  const patched = (bytes: number[]): Uint8Array => {
    const b = new Uint8Array(der);
    b.set(bytes, valueAt);
    return b;
  };
  t.equal(parseVekExtensions(patched([0x02, 0x01, 0x07])).spls.blSPL, 7);
  expectParseError(t, () => parseVekExtensions(patched([0x02, 0x01, 0x80])), /negative INTEGER/);
  expectParseError(t, () => parseVekExtensions(patched([0x16, 0x01, 0x41])), /expected tag 0x2/);
  expectParseError(t, () => parseVekExtensions(patched([0x02, 0x02, 0x01])), /VEK certificate extensions/);
  t.same([...derInteger(217)], [0x02, 0x02, 0x00, 0xd9], 'ucodeSPL >= 0x80 carries a leading zero');
  t.same([...derIa5('Turin')], [0x16, 0x05, ...Buffer.from('Turin')]);
  t.end();
});

void t.test('a VEK whose key is the point at infinity is refused, not read by OpenSSL (which would abort the process)', (t) => {
  const der = withSpki(readSample('snp/gsg-milan-v2.vcek.der'), infinitySpki('P-384'));
  expectParseError(t, () => parseVek(der), /VEK certificate public key is not readable: public key: /);
  t.end();
});
