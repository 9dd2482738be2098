/**
 * The SEV-SNP ATTESTATION_REPORT (FORMATS.md §1): 1184 bytes, little-endian, signed over 0x000–0x29F. Parsing is
 * pure layout work — no product knowledge, no crypto — so it can run on hostile bytes first and fail fast with a
 * {@link SnpParseError}. Product-dependent fields (TCB_VERSION) stay raw u64s here and are decoded once the product
 * is known.
 */
import { isAllZero, reversed, viewOf } from '../../lib/bytes.js';
import { SnpParseError } from './parse-error.js';

/** Size of every supported report version. */
export const SNP_REPORT_SIZE = 0x4a0;
/** Length of the signed prefix (bytes 0x000–0x29F). */
export const SNP_SIGNED_LENGTH = 0x2a0;
/** Report versions this parser understands. */
export const SNP_REPORT_VERSIONS: readonly number[] = [2, 3, 4, 5];
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only one defined. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;

/** Which key signed the report (signer info bits 4:2). */
export type SnpSigningKey = 'vcek' | 'vlek' | 'none' | 'reserved';

/** Decoded signer info word at 0x048. */
export interface SnpSignerInfo {
  readonly raw: number;
  readonly authorKeyEn: boolean;
  readonly maskChipKey: boolean;
  readonly signingKey: SnpSigningKey;
  /** The 3-bit SIGNING_KEY value, for messages about reserved encodings. */
  readonly signingKeyCode: number;
}

/** CPUID identification of the CPU (v3+ reports). */
export interface SnpCpuid {
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
}

/** A parsed report. Byte fields are copies in stored order; u64 fields are bigints. */
export interface SnpReport {
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: bigint;
  readonly familyId: Uint8Array;
  readonly imageId: Uint8Array;
  readonly vmpl: number;
  readonly signatureAlgo: number;
  readonly currentTcb: bigint;
  readonly platformInfo: bigint;
  readonly signerInfo: SnpSignerInfo;
  readonly reportData: Uint8Array;
  readonly measurement: Uint8Array;
  readonly hostData: Uint8Array;
  readonly idKeyDigest: Uint8Array;
  readonly authorKeyDigest: Uint8Array;
  readonly reportId: Uint8Array;
  readonly reportIdMa: Uint8Array;
  readonly reportedTcb: bigint;
  /** Present in v3+ reports only. */
  readonly cpuid: SnpCpuid | undefined;
  readonly chipId: Uint8Array;
  readonly committedTcb: bigint;
  readonly currentBuild: number;
  readonly currentMinor: number;
  readonly currentMajor: number;
  readonly committedBuild: number;
  readonly committedMinor: number;
  readonly committedMajor: number;
  readonly launchTcb: bigint;
  /** Present in v5+ reports only. */
  readonly launchMitVector: bigint | undefined;
  /** Present in v5+ reports only. */
  readonly currentMitVector: bigint | undefined;
  /** Signature r, 48 bytes big-endian. */
  readonly signatureR: Uint8Array;
  /** Signature s, 48 bytes big-endian. */
  readonly signatureS: Uint8Array;
  /** The signed bytes 0x000–0x29F. */
  readonly signed: Uint8Array;
}

const SIGNING_KEYS: Record<number, SnpSigningKey> = { 0: 'vcek', 1: 'vlek', 7: 'none' };

/** Decodes the signer info word (0x048). */
export function decodeSignerInfo(raw: number): SnpSignerInfo {
  const code = (raw >>> 2) & 0x7;
  return {
    raw,
    authorKeyEn: (raw & 1) === 1,
    maskChipKey: (raw & 2) === 2,
    signingKey: SIGNING_KEYS[code] ?? 'reserved',
    signingKeyCode: code,
  };
}

/**
 * Reads one 72-byte little-endian signature component and returns its 48-byte big-endian form. The top 24 bytes
 * must be zero: P-384 scalars are 48 bytes, and accepting junk there would make the signature field malleable.
 */
function signatureComponent(report: Uint8Array, offset: number, name: string): Uint8Array {
  const field = report.subarray(offset, offset + 72);
  if (!isAllZero(field.subarray(48))) throw new SnpParseError(`SNP report: signature ${name} has non-zero bytes above the 48-byte P-384 value`);
  return reversed(field.subarray(0, 48));
}

/** Parses an ATTESTATION_REPORT; throws {@link SnpParseError} for any other length, an unknown version or bad signature padding. */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (!(bytes instanceof Uint8Array)) throw new SnpParseError('SNP report: expected bytes');
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw new SnpParseError(`SNP report: expected ${SNP_REPORT_SIZE} bytes, got ${bytes.length}`);
  }
  // One private copy: the caller's buffer may be reused or mutated after we return.
  const b = new Uint8Array(bytes);
  const dv = viewOf(b);
  const version = dv.getUint32(0x000, true);
  if (!SNP_REPORT_VERSIONS.includes(version)) {
    throw new SnpParseError(`SNP report: version ${version} is not supported (expected one of ${SNP_REPORT_VERSIONS.join(', ')})`);
  }
  const u64 = (off: number): bigint => dv.getBigUint64(off, true);
  const bytesAt = (off: number, len: number): Uint8Array => b.subarray(off, off + len);
  // The unsigned tail (0x330–0x49F) is not covered by the signature; refuse junk there so two different byte
  // strings can't both be "the same valid report".
  if (!isAllZero(b.subarray(0x330, SNP_REPORT_SIZE))) throw new SnpParseError('SNP report: reserved bytes after the signature (0x330–0x49F) are not zero');
  const signatureR = signatureComponent(b, 0x2a0, 'R');
  const signatureS = signatureComponent(b, 0x2e8, 'S');
  return {
    version,
    guestSvn: dv.getUint32(0x004, true),
    policy: u64(0x008),
    familyId: bytesAt(0x010, 16),
    imageId: bytesAt(0x020, 16),
    vmpl: dv.getUint32(0x030, true),
    signatureAlgo: dv.getUint32(0x034, true),
    currentTcb: u64(0x038),
    platformInfo: u64(0x040),
    signerInfo: decodeSignerInfo(dv.getUint32(0x048, true)),
    reportData: bytesAt(0x050, 64),
    measurement: bytesAt(0x090, 48),
    hostData: bytesAt(0x0c0, 32),
    idKeyDigest: bytesAt(0x0e0, 48),
    authorKeyDigest: bytesAt(0x110, 48),
    reportId: bytesAt(0x140, 32),
    reportIdMa: bytesAt(0x160, 32),
    reportedTcb: u64(0x180),
    cpuid: version >= 3 ? { family: b[0x188]!, model: b[0x189]!, stepping: b[0x18a]! } : undefined,
    chipId: bytesAt(0x1a0, 64),
    committedTcb: u64(0x1e0),
    currentBuild: b[0x1e8]!,
    currentMinor: b[0x1e9]!,
    currentMajor: b[0x1ea]!,
    committedBuild: b[0x1ec]!,
    committedMinor: b[0x1ed]!,
    committedMajor: b[0x1ee]!,
    launchTcb: u64(0x1f0),
    launchMitVector: version >= 5 ? u64(0x1f8) : undefined,
    currentMitVector: version >= 5 ? u64(0x200) : undefined,
    signatureR,
    signatureS,
    signed: b.subarray(0, SNP_SIGNED_LENGTH),
  };
}

/** Firmware version as AMD writes it: "1.49 build 3". */
export function firmwareVersion(major: number, minor: number, build: number): string {
  return `${major}.${minor} build ${build}`;
}

/** Bit positions of PLATFORM_INFO flags. */
export const PlatformInfoBit = {
  SMT_EN: 0,
  TSME_EN: 1,
  ECC_EN: 2,
  RAPL_DIS: 3,
  CIPHERTEXT_HIDING_EN: 4,
  ALIAS_CHECK_COMPLETE: 5,
  TIO_EN: 7,
} as const;

/** The names of the PLATFORM_INFO flags set in `raw`, in bit order. */
export function platformInfoFlags(raw: bigint): string[] {
  return (Object.keys(PlatformInfoBit) as (keyof typeof PlatformInfoBit)[]).filter((f) => ((raw >> BigInt(PlatformInfoBit[f])) & 1n) === 1n);
}
