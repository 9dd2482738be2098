/**
 * What an SNP report states, as JSON-ready data: snake_case keys, byte fields as lowercase hex in stored order, u64
 * fields as 16 hex digits (most significant first), TCBs decoded for the product. These are the claims the CLI
 * prints and the Coordinator's policy reads; they are built only from a parsed report plus the identified product.
 */
import { toHex } from '../../lib/bytes.js';
import type { DigestHex, MeasurementHex, PolicyHash, ReportDataHex } from '../../lib/brand.js';
import { decodePolicy, type PolicyFlag } from './policy.js';
import type { SnpProduct } from './product.js';
import { firmwareVersion, platformInfoFlags, type SnpReport, type SnpSigningKey } from './report.js';
import { decodeTcb, u64Hex } from './tcb.js';

/** One decoded TCB_VERSION; `fmc` on Turin only. */
export interface SnpTcbClaims {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc?: number;
}

/** The claims of one SNP report. */
export interface SnpClaims {
  readonly version: number;
  readonly product: SnpProduct;
  /** The key the report says signed it; only 'vcek' or 'vlek' on an accepted result. */
  readonly signer: SnpSigningKey;
  readonly measurement: MeasurementHex;
  readonly report_data: ReportDataHex;
  readonly host_data: PolicyHash;
  /** 64 bytes; all zero when the platform masks it. */
  readonly chip_id: string;
  readonly vmpl: number;
  /** Guest policy u64, e.g. "00000000000b0000". */
  readonly policy: string;
  readonly policy_decoded: { readonly abi_minor: number; readonly abi_major: number; readonly flags: readonly PolicyFlag[] };
  readonly guest_svn: number;
  readonly family_id: string;
  readonly image_id: string;
  readonly id_key_digest: DigestHex;
  readonly author_key_digest: DigestHex;
  readonly author_key_en: boolean;
  readonly report_id: string;
  /** All ff when no migration agent is bound. */
  readonly report_id_ma: string;
  readonly signature_algo: number;
  /** PLATFORM_INFO u64, e.g. "0000000000000001" (SMT enabled). */
  readonly platform_info: string;
  readonly platform_flags: readonly string[];
  readonly reported_tcb: SnpTcbClaims;
  readonly committed_tcb: SnpTcbClaims;
  readonly launch_tcb: SnpTcbClaims;
  readonly current_tcb: SnpTcbClaims;
  /** Firmware version, e.g. "1.49 build 3". */
  readonly current_version: string;
  readonly committed_version: string;
  /** v3+ reports only. */
  readonly cpuid?: { readonly family: number; readonly model: number; readonly stepping: number };
  /** v5+ reports only (u64 hex). */
  readonly launch_mit_vector?: string;
  /** v5+ reports only (u64 hex). */
  readonly current_mit_vector?: string;
}

/** Decodes one TCB_VERSION for the claims. */
export function tcbClaims(raw: bigint, product: SnpProduct): SnpTcbClaims {
  return decodeTcb(raw, product);
}

/** Builds the claims of `report`, decoding TCBs for `product`. */
export function buildSnpClaims(report: SnpReport, product: SnpProduct): SnpClaims {
  const policy = decodePolicy(report.policy);
  return {
    version: report.version,
    product,
    signer: report.signerInfo.signingKey,
    measurement: toHex(report.measurement) as MeasurementHex,
    report_data: toHex(report.reportData) as ReportDataHex,
    host_data: toHex(report.hostData) as PolicyHash,
    chip_id: toHex(report.chipId),
    vmpl: report.vmpl,
    policy: u64Hex(report.policy),
    policy_decoded: { abi_minor: policy.abiMinor, abi_major: policy.abiMajor, flags: policy.flags },
    guest_svn: report.guestSvn,
    family_id: toHex(report.familyId),
    image_id: toHex(report.imageId),
    id_key_digest: toHex(report.idKeyDigest) as DigestHex,
    author_key_digest: toHex(report.authorKeyDigest) as DigestHex,
    author_key_en: report.signerInfo.authorKeyEn,
    report_id: toHex(report.reportId),
    report_id_ma: toHex(report.reportIdMa),
    signature_algo: report.signatureAlgo,
    platform_info: u64Hex(report.platformInfo),
    platform_flags: platformInfoFlags(report.platformInfo),
    reported_tcb: tcbClaims(report.reportedTcb, product),
    committed_tcb: tcbClaims(report.committedTcb, product),
    launch_tcb: tcbClaims(report.launchTcb, product),
    current_tcb: tcbClaims(report.currentTcb, product),
    current_version: firmwareVersion(report.currentMajor, report.currentMinor, report.currentBuild),
    committed_version: firmwareVersion(report.committedMajor, report.committedMinor, report.committedBuild),
    ...(report.cpuid ? { cpuid: { ...report.cpuid } } : {}),
    ...(report.launchMitVector !== undefined ? { launch_mit_vector: u64Hex(report.launchMitVector) } : {}),
    ...(report.currentMitVector !== undefined ? { current_mit_vector: u64Hex(report.currentMitVector) } : {}),
  };
}
