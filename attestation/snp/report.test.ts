/**
 * Report layout, policy, TCB and product decoding, checked against facts.json (recorded independently of this
 * code) for the real samples and against hand-laid fake reports for versions no public sample has (v3–v5).
 */
import t from 'tap';
import type tap from 'tap';
import { toHex } from '../../lib/bytes.js';
import { factOf, facts, readSample } from '../../test/fixtures.js';
import { buildFakeReport } from '../../test/support/attestation/fake-amd-pki.js';
import { SnpParseError } from './parse-error.js';
import { decodePolicy, policyDefects } from './policy.js';
import { productFromCpuid, productFromName } from './product.js';
import { decodeSignerInfo, firmwareVersion, parseSnpReport, platformInfoFlags, SNP_REPORT_SIZE } from './report.js';
import { decodeTcb, u64Hex } from './tcb.js';

interface TcbFact { raw_hex: string; bootloader: number; tee: number; snp: number; microcode: number }
interface ReportFacts {
  version: number; guest_svn: number; policy_hex: string; policy_decoded: { abi_minor: number; abi_major: number; flags: string[] };
  family_id: string; image_id: string; vmpl: number; signature_algo: number; current_tcb: TcbFact; platform_info_hex: string;
  signer_info: { raw_u32: number; author_key_en: number; mask_chip_key: number; signing_key: string };
  report_data: string; measurement: string; host_data: string; id_key_digest: string; author_key_digest: string;
  report_id: string; report_id_ma: string; reported_tcb: TcbFact; chip_id: string; committed_tcb: TcbFact; launch_tcb: TcbFact;
  current_version: string; committed_version: string; signature_r_be: string; signature_s_be: string;
}

/** Every SNP report sample listed in facts.json. */
const reportSamples = Object.entries(facts().files)
  .filter(([, f]) => String(f.kind).startsWith('sev-snp-attestation-report'))
  .map(([rel]) => rel);

function parseError(t: Pick<typeof tap, 'ok' | 'fail'>, fn: () => unknown): SnpParseError | undefined {
  try {
    fn();
  } catch (err) {
    t.ok(err instanceof SnpParseError, `throws SnpParseError (got ${String(err)})`);
    return err as SnpParseError;
  }
  t.fail('expected a parse error');
  return undefined;
}

void t.test('facts.json lists the three SNP report samples', (t) => {
  t.same(reportSamples.sort(), ['snp/gsg-milan-v2.report.bin', 'snp/negative/gsg-milan-v2.report.reportdata-bitflip.bin', 'snp/trustee-milan-v2.report.bin']);
  t.end();
});

for (const rel of reportSamples) {
  void t.test(`${rel}: every field equals facts.json`, (t) => {
    const f = factOf(rel).fields as unknown as ReportFacts;
    const r = parseSnpReport(readSample(rel));
    t.equal(r.version, f.version);
    t.equal(r.guestSvn, f.guest_svn);
    t.equal(u64Hex(r.policy), f.policy_hex);
    const p = decodePolicy(r.policy);
    t.same({ abi_minor: p.abiMinor, abi_major: p.abiMajor, flags: p.flags }, f.policy_decoded);
    t.equal(toHex(r.familyId), f.family_id);
    t.equal(toHex(r.imageId), f.image_id);
    t.equal(r.vmpl, f.vmpl);
    t.equal(r.signatureAlgo, f.signature_algo);
    t.equal(u64Hex(r.platformInfo), f.platform_info_hex);
    t.equal(r.signerInfo.raw, f.signer_info.raw_u32);
    t.equal(Number(r.signerInfo.authorKeyEn), f.signer_info.author_key_en);
    t.equal(Number(r.signerInfo.maskChipKey), f.signer_info.mask_chip_key);
    t.equal(r.signerInfo.signingKey, f.signer_info.signing_key.toLowerCase());
    t.equal(toHex(r.reportData), f.report_data);
    t.equal(toHex(r.measurement), f.measurement);
    t.equal(toHex(r.hostData), f.host_data);
    t.equal(toHex(r.idKeyDigest), f.id_key_digest);
    t.equal(toHex(r.authorKeyDigest), f.author_key_digest);
    t.equal(toHex(r.reportId), f.report_id);
    t.equal(toHex(r.reportIdMa), f.report_id_ma);
    t.equal(toHex(r.chipId), f.chip_id);
    for (const [raw, fact] of [[r.currentTcb, f.current_tcb], [r.reportedTcb, f.reported_tcb], [r.committedTcb, f.committed_tcb], [r.launchTcb, f.launch_tcb]] as const) {
      t.equal(u64Hex(raw), fact.raw_hex);
      t.same(decodeTcb(raw, 'milan'), { bootloader: fact.bootloader, tee: fact.tee, snp: fact.snp, microcode: fact.microcode });
    }
    t.equal(firmwareVersion(r.currentMajor, r.currentMinor, r.currentBuild), f.current_version);
    t.equal(firmwareVersion(r.committedMajor, r.committedMinor, r.committedBuild), f.committed_version);
    t.equal(toHex(r.signatureR), f.signature_r_be);
    t.equal(toHex(r.signatureS), f.signature_s_be);
    t.equal(r.signed.length, 0x2a0);
    t.equal(r.cpuid, undefined, 'v2 has no CPUID fields');
    t.equal(r.launchMitVector, undefined);
    t.end();
  });
}

void t.test('the parsed report is a private copy of the input', (t) => {
  const bytes = readSample('snp/gsg-milan-v2.report.bin');
  const r = parseSnpReport(bytes);
  const before = toHex(r.measurement);
  bytes.fill(0);
  t.equal(toHex(r.measurement), before);
  t.end();
});

void t.test('refuses other lengths, unknown versions and junk in unsigned or padding bytes', (t) => {
  const good = readSample('snp/gsg-milan-v2.report.bin');
  for (const len of [0, 1, SNP_REPORT_SIZE - 1, SNP_REPORT_SIZE + 1, 4000]) {
    const e = parseError(t, () => parseSnpReport(new Uint8Array(len)));
    t.match(e?.message, /expected 1184 bytes/);
    t.equal(e?.code, 'CCMESH_ERR_ATTEST_PARSE');
  }
  for (const version of [0, 1, 6, 0xffffffff]) {
    const b = new Uint8Array(good);
    new DataView(b.buffer).setUint32(0, version, true);
    t.match(parseError(t, () => parseSnpReport(b))?.message, /version .* not supported/);
  }
  for (const [offset, what] of [[0x2a0 + 48, /signature R/], [0x2e8 + 71, /signature S/], [0x330, /0x330/], [0x49f, /0x330/]] as const) {
    const b = new Uint8Array(good);
    b[offset] = 1;
    t.match(parseError(t, () => parseSnpReport(b))?.message, what);
  }
  t.match(parseError(t, () => parseSnpReport('x' as unknown as Uint8Array))?.message, /expected bytes/);
  t.end();
});

void t.test('v3 and v4 carry CPUID; v5 adds the mitigation vectors', (t) => {
  const v2 = parseSnpReport(buildFakeReport({ version: 2, cpuid: [0x19, 0x01, 0x01], launchMitVector: 5n }));
  t.equal(v2.cpuid, undefined, 'v2 reserves the CPUID bytes');
  t.equal(v2.launchMitVector, undefined);
  for (const version of [3, 4]) {
    const r = parseSnpReport(buildFakeReport({ version, cpuid: [0x1a, 0x02, 0x03], launchMitVector: 5n, currentMitVector: 6n }));
    t.same(r.cpuid, { family: 0x1a, model: 0x02, stepping: 0x03 });
    t.equal(r.launchMitVector, undefined, `v${version} has no mitigation vectors`);
  }
  const v5 = parseSnpReport(buildFakeReport({ version: 5, cpuid: [0x19, 0x11, 0x01], launchMitVector: 0x8000000000000005n, currentMitVector: 6n }));
  t.same(v5.cpuid, { family: 0x19, model: 0x11, stepping: 0x01 });
  t.equal(v5.launchMitVector, 0x8000000000000005n);
  t.equal(v5.currentMitVector, 6n);
  t.end();
});

void t.test('signer info: author key, mask chip key and the signing-key encodings', (t) => {
  t.same(decodeSignerInfo(0), { raw: 0, authorKeyEn: false, maskChipKey: false, signingKey: 'vcek', signingKeyCode: 0 });
  t.equal(decodeSignerInfo(1 << 2).signingKey, 'vlek');
  t.equal(decodeSignerInfo(7 << 2).signingKey, 'none');
  for (const code of [2, 3, 4, 5, 6]) t.equal(decodeSignerInfo(code << 2).signingKey, 'reserved');
  const all = decodeSignerInfo(0b111);
  t.equal(all.authorKeyEn, true);
  t.equal(all.maskChipKey, true);
  t.equal(all.signingKey, 'vlek');
  t.end();
});

void t.test('policy: FORMATS.md §2 examples and defects', (t) => {
  t.same(decodePolicy(0x00000000000b0000n).flags, ['SMT', 'RESERVED_MBO', 'DEBUG']);
  const abi = decodePolicy(0x000000000003001fn);
  t.same([abi.abiMajor, abi.abiMinor, abi.flags], [0, 31, ['SMT', 'RESERVED_MBO']]);
  t.same(decodePolicy(0x30000n).flags, ['SMT', 'RESERVED_MBO']);
  const all = decodePolicy(0x3ff0000n);
  t.same(all.flags, ['SMT', 'RESERVED_MBO', 'MIGRATE_MA', 'DEBUG', 'SINGLE_SOCKET', 'CXL_ALLOW', 'MEM_AES_256_XTS', 'RAPL_DIS', 'CIPHERTEXT_HIDING', 'PAGE_SWAP_DISABLE']);
  t.equal(all.migrateMa && all.debug && all.singleSocket && all.smt, true);
  t.same(policyDefects(decodePolicy(0x30000n)), []);
  t.match(policyDefects(decodePolicy(0x10000n)).join(), /bit 17/);
  t.match(policyDefects(decodePolicy(0x30000n | (1n << 40n))).join(), /reserved bits 63:26 \(0x10000000000\)/);
  t.end();
});

void t.test('TCB_VERSION: Milan/Genoa and Turin layouts', (t) => {
  // FORMATS.md §3: 0x4405000000000002 on Milan is bl 2, tee 0, snp 5, microcode 0x44.
  t.same(decodeTcb(0x4405000000000002n, 'milan'), { bootloader: 2, tee: 0, snp: 5, microcode: 68 });
  t.same(decodeTcb(0xd918000000000304n, 'genoa'), { bootloader: 4, tee: 3, snp: 0x18, microcode: 0xd9 });
  t.same(decodeTcb(0xdb00000018000401n, 'turin'), { fmc: 1, bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb });
  t.equal(u64Hex(4901323769462652930n), '4405000000000002');
  t.end();
});

void t.test('product identification from CPUID and productName', (t) => {
  const table: [number, number, string | undefined][] = [
    [0x19, 0x01, 'milan'], [0x19, 0x11, 'genoa'], [0x19, 0xa0, 'genoa'], [0x19, 0xaf, 'genoa'], [0x19, 0xb0, undefined],
    [0x19, 0x00, undefined], [0x1a, 0x00, 'turin'], [0x1a, 0x02, 'turin'], [0x1a, 0x11, 'turin'], [0x1a, 0x12, undefined], [0x17, 0x31, undefined],
  ];
  for (const [fam, model, want] of table) t.equal(productFromCpuid(fam, model), want, `fam 0x${fam.toString(16)} model 0x${model.toString(16)}`);
  t.equal(productFromName('Milan-B0'), 'milan');
  t.equal(productFromName('Milan'), 'milan');
  t.equal(productFromName('Genoa'), 'genoa');
  t.equal(productFromName('Turin'), 'turin');
  t.equal(productFromName('milan'), undefined, 'names are case-sensitive, as AMD issues them');
  t.equal(productFromName('Siena'), undefined);
  t.equal(productFromName(''), undefined);
  t.end();
});

void t.test('PLATFORM_INFO flags', (t) => {
  t.same(platformInfoFlags(1n), ['SMT_EN']);
  t.same(platformInfoFlags(0xbfn), ['SMT_EN', 'TSME_EN', 'ECC_EN', 'RAPL_DIS', 'CIPHERTEXT_HIDING_EN', 'ALIAS_CHECK_COMPLETE', 'TIO_EN']);
  t.end();
});
