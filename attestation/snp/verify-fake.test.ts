/**
 * The verifier's product- and key-kind-specific paths, exercised with a self-made AMD hierarchy (FakeAmdPki)
 * because no public v3+, Genoa, Turin or VLEK report exists: Turin's TCB layout and 8-byte hwID, CPUID product
 * identification, VLEK chains, masked chip IDs, unsigned reports, CRLs. The fake ARK is passed as the anchor; the
 * last test shows the pinned AMD roots never accept it.
 */
import type { KeyObject } from 'node:crypto';
import t from 'tap';
import { buildFakeReport, FakeAmdPki, type FakeReportFields, type FakeVekOptions } from '../../test/support/attestation/fake-amd-pki.js';
import { createSnpVerifier, type SnpVerifyInput, verifySnp } from './verify.js';

const AT = new Date('2025-01-01T00:00:00Z');
const CHIP = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 1) & 0xff);
const TURIN_TCB = 0xdb00000018030401n; // fmc 1, bl 4, tee 3, snp 0x18, ucode 0xdb
const TURIN_SPLS = { fmcSPL: 1, blSPL: 4, teeSPL: 3, snpSPL: 0x18, ucodeSPL: 0xdb };
const GENOA_TCB = 0xd318000000000304n; // bl 4, tee 3, snp 0x18, ucode 0xd3
const GENOA_SPLS = { blSPL: 4, teeSPL: 3, snpSPL: 0x18, ucodeSPL: 0xd3 };
const VLEK_SIGNER = 1 << 2;

const [turin, genoa] = await Promise.all([FakeAmdPki.create('turin'), FakeAmdPki.create('genoa')]);
const turinVcek = await turin.issueVek({ kind: 'vcek', hwId: CHIP.subarray(0, 8), spls: TURIN_SPLS });
const genoaVcek = await genoa.issueVek({ kind: 'vcek', hwId: CHIP, spls: GENOA_SPLS });
const genoaVlek = await genoa.issueVek({ kind: 'vlek', cspId: 'CN=cc-us-east-2.amazonaws.com', spls: GENOA_SPLS });

function run(pki: FakeAmdPki, vek: { der: Uint8Array }, report: Uint8Array, extra: Partial<SnpVerifyInput> = {}): ReturnType<typeof verifySnp> {
  return verifySnp({ report, vek: vek.der, chain: pki.vcekChain, at: AT, anchors: [pki.ark], ...extra });
}
function turinReport(f: FakeReportFields = {}, key: KeyObject = turinVcek.privateKey): Uint8Array {
  return buildFakeReport({ version: 3, cpuid: [0x1a, 0x02, 0x00], reportedTcb: TURIN_TCB, chipId: CHIP, ...f }, key);
}
function genoaReport(f: FakeReportFields = {}, key: KeyObject = genoaVcek.privateKey): Uint8Array {
  return buildFakeReport({ version: 3, cpuid: [0x19, 0x11, 0x01], reportedTcb: GENOA_TCB, chipId: CHIP, ...f }, key);
}
async function turinVekWith(opts: Partial<FakeVekOptions>): Promise<{ der: Uint8Array; privateKey: KeyObject }> {
  return turin.issueVek({ kind: 'vcek', hwId: CHIP.subarray(0, 8), spls: TURIN_SPLS, ...opts });
}

void t.test('Turin v3 VCEK report: accepted, TCB decoded with the Turin layout incl. fmc', (t) => {
  const r = run(turin, turinVcek, turinReport());
  t.same(r.reasons, []);
  t.equal(r.ok, true);
  t.equal(r.claims?.product, 'turin');
  t.same(r.claims?.reported_tcb, { fmc: 1, bootloader: 4, tee: 3, snp: 0x18, microcode: 0xdb });
  t.same(r.claims?.cpuid, { family: 0x1a, model: 0x02, stepping: 0 });
  t.end();
});

void t.test('Turin: only the first 8 bytes of CHIP_ID are bound to the VCEK', (t) => {
  const rest = new Uint8Array(CHIP);
  rest[40] = rest[40]! ^ 0xff;
  t.equal(run(turin, turinVcek, turinReport({ chipId: rest })).ok, true);
  const first = new Uint8Array(CHIP);
  first[3] = first[3]! ^ 0xff;
  const r = run(turin, turinVcek, turinReport({ chipId: first }));
  t.equal(r.ok, false);
  t.match(r.reasons.join('\n'), /VCEK hwID [0-9a-f]{16} differs from the report CHIP_ID \(first 8 bytes\)/);
  t.end();
});

void t.test('Turin: fmcSPL must match, and must exist', async (t) => {
  const wrongFmc = await turinVekWith({ spls: { ...TURIN_SPLS, fmcSPL: 2 } });
  const r = run(turin, wrongFmc, turinReport({}, wrongFmc.privateKey));
  t.match(r.reasons.join('\n'), /VEK fmcSPL 2 differs from REPORTED_TCB fmc 1/);
  const { fmcSPL: _drop, ...noFmc } = TURIN_SPLS;
  const missing = await turinVekWith({ spls: noFmc });
  t.match(run(turin, missing, turinReport({}, missing.privateKey)).reasons.join('\n'), /VEK has no fmcSPL extension/);
  const wide = await turinVekWith({ hwId: CHIP });
  t.match(run(turin, wide, turinReport({}, wide.privateKey)).reasons.join('\n'), /VCEK hwID has 64 bytes; a Turin VCEK has 8/);
});

void t.test('Genoa: CPUID models 0x11 and 0xA0-0xAF, report versions 3, 4 and 5', (t) => {
  for (const [version, model] of [[3, 0x11], [4, 0xa5], [5, 0xaf]] as const) {
    const r = run(genoa, genoaVcek, genoaReport({ version, cpuid: [0x19, model, 0x01], launchMitVector: 0x11n, currentMitVector: 0x13n }));
    t.same(r.reasons, [], `v${version} model 0x${model.toString(16)}`);
    t.equal(r.claims?.product, 'genoa');
    t.equal(r.claims?.launch_mit_vector, version === 5 ? '0000000000000011' : undefined);
    t.equal(r.claims?.current_mit_vector, version === 5 ? '0000000000000013' : undefined);
  }
  t.end();
});

void t.test('product: report CPUID against VEK and chain', (t) => {
  const genoaOnTurin = run(turin, turinVcek, turinReport({ cpuid: [0x19, 0x11, 0x01] }));
  t.equal(genoaOnTurin.ok, false);
  const all = genoaOnTurin.reasons.join('\n');
  t.match(all, /report CPUID says Genoa but the VEK productName "Turin" says Turin/);
  t.match(all, /wrong product: the certificate chain \(SEV-Turin\) is for Turin but the report is for Genoa/);
  t.equal(genoaOnTurin.claims?.product, 'genoa', 'claims follow the report itself');
  const unknown = run(turin, turinVcek, turinReport({ cpuid: [0x17, 0x31, 0x00] }));
  t.match(unknown.reasons.join('\n'), /CPUID family 0x17 model 0x31 is not a supported product/);
  t.equal(unknown.claims?.product, 'turin', 'falls back to the VEK productName');
  t.end();
});

void t.test('productName must be present and known', async (t) => {
  const none = await turinVekWith({ productName: null });
  t.match(run(turin, none, turinReport({}, none.privateKey)).reasons.join('\n'), /no productName extension/);
  const siena = await turinVekWith({ productName: 'Siena' });
  t.match(run(turin, siena, turinReport({}, siena.privateKey)).reasons.join('\n'), /productName "Siena" is not a supported product/);
  const stepping = await turinVekWith({ productName: 'Turin-C1' });
  t.same(run(turin, stepping, turinReport({}, stepping.privateKey)).reasons, [], 'a stepping suffix is fine');
});

void t.test('VLEK: accepted with the ASVK chain, CHIP_ID may be masked', (t) => {
  const report = genoaReport({ signerInfo: VLEK_SIGNER, chipId: new Uint8Array(64) }, genoaVlek.privateKey);
  const r = run(genoa, genoaVlek, report, { chain: genoa.vlekChain });
  t.same(r.reasons, []);
  t.equal(r.claims?.signer, 'vlek');
  t.end();
});

void t.test('VLEK and VCEK can not stand in for each other', async (t) => {
  const vlekReport = genoaReport({ signerInfo: VLEK_SIGNER }, genoaVlek.privateKey);
  const withVcekChain = run(genoa, genoaVlek, vlekReport);
  t.match(withVcekChain.reasons.join('\n'), /signed by a VLEK \(SIGNING_KEY 1\) but the certificate chain \(SEV-Genoa\) certifies a VCEK/);
  t.match(withVcekChain.reasons.join('\n'), /has a cspID extension \(a VLEK\) but the chain is a VCEK chain/);
  const vcekSaysVlek = run(genoa, genoaVcek, genoaReport({ signerInfo: VLEK_SIGNER }));
  t.match(vcekSaysVlek.reasons.join('\n'), /signed by a VLEK .* certifies a VCEK/);
  const noCsp = await genoa.issueVek({ kind: 'vlek', spls: GENOA_SPLS });
  const r = run(genoa, noCsp, genoaReport({ signerInfo: VLEK_SIGNER }, noCsp.privateKey), { chain: genoa.vlekChain });
  t.match(r.reasons.join('\n'), /VLEK chain\) has no cspID extension/);
  const crossSigned = await genoa.issueVek({ kind: 'vcek', hwId: CHIP, spls: GENOA_SPLS, wrongIssuer: true });
  const cross = run(genoa, crossSigned, genoaReport({}, crossSigned.privateKey));
  t.match(cross.reasons.join('\n'), /VCEK certificate issuer does not name the ASK certificate's subject/);
});

void t.test('signer info and algorithm: masked chip ID with a VCEK, MASK_CHIP_KEY, unsigned, reserved, wrong algo', (t) => {
  const masked = run(genoa, genoaVcek, genoaReport({ chipId: new Uint8Array(64) }));
  t.match(masked.reasons.join('\n'), /CHIP_ID is all zero \(masked by MASK_CHIP_ID\) but a VCEK is used/);
  t.match(run(genoa, genoaVcek, genoaReport({ signerInfo: 0b10 })).reasons.join('\n'), /MASK_CHIP_KEY set/);
  t.match(run(genoa, genoaVcek, genoaReport({ signerInfo: 7 << 2 })).reasons.join('\n'), /not signed \(SIGNING_KEY 7/);
  t.match(run(genoa, genoaVcek, genoaReport({ signerInfo: 3 << 2 })).reasons.join('\n'), /SIGNING_KEY 3 is a reserved value/);
  t.match(run(genoa, genoaVcek, genoaReport({ signatureAlgo: 2 })).reasons.join('\n'), /SIGNATURE_ALGO is 2, expected 1/);
  const zeroSig = buildFakeReport({ version: 3, cpuid: [0x19, 0x11, 1], reportedTcb: GENOA_TCB, chipId: CHIP });
  t.match(run(genoa, genoaVcek, zeroSig).reasons.join('\n'), /report signature does not verify/);
  t.end();
});

void t.test('guest policy with reserved bits is refused', (t) => {
  t.match(run(genoa, genoaVcek, genoaReport({ policy: 0x10000n })).reasons.join('\n'), /reserved bit 17 clear/);
  t.match(run(genoa, genoaVcek, genoaReport({ policy: 0x30000n | (1n << 63n) })).reasons.join('\n'), /reserved bits 63:26/);
  t.end();
});

void t.test('CRLs: a revoked ASK, a stale CRL and a CRL of another hierarchy are refused; a current one is fine', async (t) => {
  const report = genoaReport();
  const ok = await genoa.issueArkCrl();
  t.same(run(genoa, genoaVcek, report, { crls: [ok] }).reasons, []);
  const revoked = await genoa.issueArkCrl({ revoke: 'ask' });
  t.match(run(genoa, genoaVcek, report, { crls: [revoked] }).reasons.join('\n'), /ASK certificate \(serial .*\) is revoked by the ARK CRL/);
  const revokedAsvk = await genoa.issueArkCrl({ revoke: 'asvk' });
  t.same(run(genoa, genoaVcek, report, { crls: [revokedAsvk] }).reasons, [], 'revoking the ASVK does not touch VCEKs');
  const stale = await genoa.issueArkCrl({ nextUpdate: new Date('2024-12-01T00:00:00Z') });
  t.match(run(genoa, genoaVcek, report, { crls: [stale] }).reasons.join('\n'), /CRL of the ARK is stale/);
  const foreign = await turin.issueArkCrl();
  t.match(run(genoa, genoaVcek, report, { crls: [foreign] }).reasons.join('\n'), /CRL #1 was not issued by any certificate of the chain/);

  // The cached verifier's window includes the CRL's: a cached pass must not outlive the CRL.
  const v = createSnpVerifier({ anchors: [genoa.ark] });
  const input = { report, vek: genoaVcek.der, chain: genoa.vcekChain, crls: [ok] };
  t.equal(v.verify({ ...input, at: AT }).ok, true);
  t.match(v.verify({ ...input, at: new Date('2026-07-01T00:00:00Z') }).reasons.join('\n'), /stale/);
  t.match(v.verify({ ...input, at: new Date('2024-05-01T00:00:00Z') }).reasons.join('\n'), /CRL of the ARK is not valid before/);
  t.equal(v.verify({ ...input, at: AT }).ok, true);
});

void t.test('the fake hierarchy is refused by the pinned AMD roots', (t) => {
  const r = verifySnp({ report: turinReport(), vek: turinVcek.der, chain: turin.vcekChain, at: AT });
  t.equal(r.ok, false);
  t.same(r.reasons.filter((x) => /pinned trust anchor/.test(x)).length, 1);
  t.equal(createSnpVerifier().verify({ report: turinReport(), vek: turinVcek.der, chain: turin.vcekChain, at: AT }).ok, false);
  t.end();
});
