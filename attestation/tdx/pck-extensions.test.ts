import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { DerError } from '../../lib/asn1/der.js';
import { toHex } from '../../lib/bytes.js';
import { readSample } from '../../test/fixtures.js';
import { parseCertificates } from '../x509/pem.js';
import { parsePckExtensions, parseSgxExtensionValue, PckExtensionError, SGX_EXTENSIONS_OID } from './pck-extensions.js';
import { parseTdxQuote } from './quote.js';
import { QUOTE_SAMPLES, quoteFacts } from '../../test/support/attestation/tdx.js';

function leafDer(rel: string): Uint8Array {
  const certs = parseCertificates(parseTdxQuote(readSample(rel)).signatureData.pckChainPem, rel);
  return new Uint8Array(certs[0]!.raw);
}

for (const rel of QUOTE_SAMPLES) {
  void t.test(`PCK extensions of ${rel} match facts.json`, (t) => {
    const f = quoteFacts(rel);
    const der = leafDer(rel);
    t.equal(createHash('sha256').update(der).digest('hex'), f.pck_chain[0]!.sha256_der, 'the leaf is the certificate facts describe');
    const ext = parsePckExtensions(der);
    const want = f.pck_extensions;
    t.equal(toHex(ext.ppid), want.ppid);
    t.equal(toHex(ext.pceId), want.pceid);
    t.equal(toHex(ext.fmspc), want.fmspc);
    t.equal(ext.sgxType, want.sgx_type);
    t.equal(toHex(ext.platformInstanceId ?? new Uint8Array()), want.platform_instance_id);
    t.equal(ext.configuration !== undefined, want.configuration_present);
    for (let i = 1; i <= 16; i++) {
      const key = `sgx_tcb_comp${String(i).padStart(2, '0')}_svn`;
      t.equal(ext.tcb.sgxTcbComponents[i - 1], want.tcb[key], key);
    }
    t.equal(ext.tcb.pceSvn, want.tcb.pcesvn);
    t.equal(toHex(ext.tcb.cpuSvn), want.tcb.cpusvn);
    t.end();
  });
}

void t.test('a certificate without the SGX extension is refused with a named error', (t) => {
  const root = readSample('tdx/collateral/intel_sgx_root_ca.pem');
  const der = new Uint8Array(parseCertificates(root, 'root')[0]!.raw);
  t.throws(() => parsePckExtensions(der), PckExtensionError);
  t.throws(() => parsePckExtensions(der), new RegExp(SGX_EXTENSIONS_OID.replace(/\./g, '\\.')));
  t.throws(() => parsePckExtensions(Uint8Array.from([0x30, 0x03, 0x02, 0x01])), PckExtensionError, 'garbage DER');
  t.end();
});

void t.test('a missing field, a wrong length and a duplicate entry are refused', (t) => {
  // Hand-built SGX extension value: SEQUENCE { SEQUENCE { OID .1, OCTET STRING (15 bytes) } }.
  const oid = (suffix: number[]): number[] => {
    const body = [0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, ...suffix];
    return [0x06, body.length, ...body];
  };
  const seq = (...items: number[][]): number[] => {
    const body = items.flat();
    return [0x30, body.length, ...body];
  };
  const ppid15 = seq(oid([1]), [0x04, 15, ...new Array<number>(15).fill(1)]);
  t.throws(() => parseSgxExtensionValue(Uint8Array.from(seq(ppid15))), /missing TCB/);
  const dup = seq(oid([3]), [0x04, 2, 0, 0]);
  t.throws(() => parseSgxExtensionValue(Uint8Array.from(seq(dup, dup))), /appears twice/);
  t.end();
});

/** True when the parser returns or throws one of its structured errors. */
function safe(run: () => unknown): boolean {
  try {
    run();
    return true;
  } catch (err) {
    return err instanceof PckExtensionError || err instanceof DerError;
  }
}

void t.test('property: random and mutated DER never crash the extension parser', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => safe(() => parsePckExtensions(b)) && safe(() => parseSgxExtensionValue(b))), {
    numRuns: 300,
  });
  const leaves = QUOTE_SAMPLES.slice(0, 3).map(leafDer);
  fc.assert(
    fc.property(
      fc.nat({ max: leaves.length - 1 }),
      fc.array(fc.tuple(fc.nat({ max: 1400 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      (which, edits) => {
        const b = new Uint8Array(leaves[which]!);
        for (const [pos, val] of edits) if (pos < b.length) b[pos] = val;
        return safe(() => parsePckExtensions(b));
      },
    ),
    { numRuns: 300 },
  );
  t.end();
});
