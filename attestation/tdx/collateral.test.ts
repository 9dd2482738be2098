import t from 'tap';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { readSample } from '../../test/fixtures.js';
import { recognizeTdxCollateral } from './collateral.js';
import { documentSignatureValid, isP256 } from './collateral-check.js';
import { infinitySpki, withSpki } from '../../test/support/pki/hostile-keys.js';
import { readSignedJson, topLevelSpans } from './signed-json.js';
import { readQeIdentityDocument, readTcbInfoDocument } from './tcb-info.js';
import { collateralFiles } from '../../test/support/attestation/tdx.js';

const SIGNER = new X509Certificate(readSample('tdx/collateral/intel_sgx_tcb_signing.pem'));

void t.test('recognises every bundled collateral file by content, even under meaningless names', (t) => {
  const files = collateralFiles().map((f, i) => ({ name: `blob-${i}`, bytes: f.bytes }));
  const { collateral, issues } = recognizeTdxCollateral(files.reverse());
  t.same(issues, []);
  t.ok(collateral.rootCrl, 'root CRL');
  t.equal(collateral.pckCrls?.length, 1, 'PCK platform CA CRL');
  t.same(collateral.tcbInfos?.map((i) => i.parsed.fmspc).sort(), ['50806f000000', '90c06f000000']);
  t.equal(collateral.qeIdentity?.parsed.id, 'TD_QE');
  t.match(collateral.tcbSigningCert?.subject ?? '', /CN=Intel SGX TCB Signing/);
  t.end();
});

void t.test('a PEM issuer chain (signing cert + root) and a PEM CRL are recognised too', (t) => {
  const chainPem = Buffer.concat([readSample('tdx/collateral/intel_sgx_tcb_signing.pem'), Buffer.from('\n'), readSample('tdx/collateral/intel_sgx_root_ca.pem')]);
  const crlDer = readSample('tdx/collateral/pck_platform_ca.crl.der');
  const crlPem = `-----BEGIN X509 CRL-----\n${Buffer.from(crlDer).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
  const { collateral, issues } = recognizeTdxCollateral([
    { name: 'issuer-chain.pem', bytes: new Uint8Array(chainPem) },
    { name: 'crl.pem', bytes: new Uint8Array(Buffer.from(crlPem)) },
  ]);
  t.same(issues, []);
  t.ok(collateral.tcbSigningCert);
  t.equal(collateral.pckCrls?.length, 1);
  t.end();
});

void t.test('unrecognisable, duplicate and untrusted files become issues naming the file', (t) => {
  // With no anchors configured, even Intel's root is just some self-signed certificate.
  const selfSigned = readSample('tdx/collateral/intel_sgx_root_ca.pem');
  const tcb = readSample('tdx/collateral/tcbinfo-tdx-fmspc50806f000000-2023-06-18.json');
  const { collateral, issues } = recognizeTdxCollateral(
    [
      { name: 'notes.txt', bytes: new Uint8Array(Buffer.from('hello')) },
      { name: 'other.json', bytes: new Uint8Array(Buffer.from('{"foo": 1}')) },
      { name: 'broken.json', bytes: new Uint8Array(Buffer.from('{"tcbInfo": ')) },
      { name: 'a.json', bytes: tcb },
      { name: 'b.json', bytes: tcb.slice() },
      { name: 'root.pem', bytes: selfSigned },
      { name: 'garbage.der', bytes: Uint8Array.from([0x30, 0x03, 0x01, 0x01, 0x00]) },
    ],
    { anchors: [] },
  );
  t.equal(collateral.tcbInfos?.length, 1, 'the first TCB info for an FMSPC is kept');
  t.match(issues.find((i) => i.startsWith('notes.txt')) ?? '', /not recognised as TDX collateral/);
  t.match(issues.find((i) => i.startsWith('other.json')) ?? '', /neither "tcbInfo" nor "enclaveIdentity"/);
  t.match(issues.find((i) => i.startsWith('broken.json')) ?? '', /not JSON/);
  t.match(issues.find((i) => i.startsWith('b.json')) ?? '', /second TCB info for FMSPC 50806f000000.*a\.json/);
  t.match(issues.find((i) => i.startsWith('root.pem')) ?? '', /not a pinned trust anchor/);
  t.match(issues.find((i) => i.startsWith('garbage.der')) ?? '', /unreadable/);
  t.equal(issues.length, 6);
  t.end();
});

void t.test('the signed bytes are the exact raw value of "tcbInfo" / "enclaveIdentity"', (t) => {
  for (const name of ['tcbinfo-tdx-fmspc50806f000000-2023-06-18.json', 'tcbinfo-tdx-fmspc90c06f000000-2026-02-01.json']) {
    const bytes = readSample(`tdx/collateral/${name}`);
    const text = Buffer.from(bytes).toString('utf8');
    const doc = readTcbInfoDocument(bytes, name);
    const start = text.indexOf('{"id"');
    const end = text.lastIndexOf(',"signature"');
    t.equal(Buffer.from(doc.signedBytes).toString('utf8'), text.slice(start, end), name);
    t.ok(documentSignatureValid(doc, SIGNER), `${name} verifies with the TCB signing key`);
  }
  const qe = readQeIdentityDocument(readSample('tdx/collateral/qeidentity-td_qe-2023-06-08.json'), 'qe');
  t.ok(documentSignatureValid(qe, SIGNER));
  t.end();
});

void t.test('whitespace and key order are preserved, and one changed character breaks the signature', (t) => {
  const bytes = readSample('tdx/collateral/qeidentity-td_qe-2023-06-08.json');
  const text = Buffer.from(bytes).toString('utf8');
  // Re-serialising would produce the same text here (compact JSON), so also prove spacing outside the body is fine.
  const spaced = Buffer.from(text.replace('{"enclaveIdentity":', '{ "enclaveIdentity" :  ').replace(',"signature"', ' ,\n "signature"'));
  t.ok(documentSignatureValid(readQeIdentityDocument(new Uint8Array(spaced), 'spaced'), SIGNER), 'whitespace outside the signed value');
  const tampered = Buffer.from(text.replace('"isvprodid":2', '"isvprodid":3'));
  t.notOk(documentSignatureValid(readQeIdentityDocument(new Uint8Array(tampered), 'tampered'), SIGNER), 'one digit changed');
  t.end();
});

void t.test('duplicate top-level keys are refused (the parse and the signature could disagree)', (t) => {
  const b = new Uint8Array(Buffer.from('{"tcbInfo":{"a":1},"tcbInfo":{"a":2},"signature":"00"}'));
  t.throws(() => topLevelSpans(b, 'dup'), /duplicate top-level member "tcbInfo"/);
  t.throws(() => readSignedJson(new Uint8Array(Buffer.from('{"tcbInfo":{},"signature":"abcd"}')), 'tcbInfo', 'short'), /64 bytes/);
  t.end();
});

void t.test('property: recognition never throws, whatever the files hold', (t) => {
  const real = collateralFiles().map((f) => f.bytes);
  const mutated = fc
    .tuple(fc.nat({ max: real.length - 1 }), fc.array(fc.tuple(fc.nat({ max: 4300 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([which, edits]) => {
      const b = new Uint8Array(real[which]!);
      for (const [pos, val] of edits) if (pos < b.length) b[pos] = val;
      return b;
    });
  const jsonish = fc.json().map((s) => new Uint8Array(Buffer.from(s)));
  const anyFile = fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated, jsonish);
  fc.assert(
    fc.property(fc.array(anyFile, { maxLength: 4 }), (blobs) => {
      const r = recognizeTdxCollateral(blobs.map((bytes, i) => ({ name: `f${i}`, bytes })));
      return Array.isArray(r.issues) && typeof r.collateral === 'object';
    }),
    { numRuns: 300 },
  );
  t.end();
});

void t.test('a TCB signing certificate whose key is the point at infinity is "not P-256", and the process lives on', (t) => {
  const signing = new X509Certificate(readSample('tdx/collateral/intel_sgx_tcb_signing.pem'));
  t.ok(isP256(signing), 'the real certificate has a P-256 key');
  const atInfinity = new X509Certificate(withSpki(signing.raw, infinitySpki('P-256')));
  t.notOk(isP256(atInfinity));
  // Verifying a P1363 signature with that key is a SIGSEGV in OpenSSL: the document check must not get that far.
  const qe = readQeIdentityDocument(readSample('tdx/collateral/qeidentity-td_qe-2023-06-08.json'), 'qe');
  t.ok(documentSignatureValid(qe, signing), 'the genuine signer verifies the QE identity');
  t.notOk(documentSignatureValid(qe, atInfinity), 'a signer at infinity verifies nothing, and the process lives on');
  t.end();
});
