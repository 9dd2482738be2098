/**
 * Parser for Intel TDX DCAP quotes, versions 4 and 5 (FORMATS.md §6).
 *
 * Quotes are untrusted bytes: every length field is checked against the bytes that contain it before it is used,
 * nothing is read past a bound, and nothing is allocated from a length field — the result holds subarray views of
 * the input. Any malformation is a {@link TdxQuoteParseError} naming the field and offset. Quote files are often
 * followed by unrelated bytes (guest buffer padding, test text), so parsing is bounded by the signature-data
 * length and the trailing bytes are reported, never interpreted.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { viewOf } from '../../lib/bytes.js';

/** A malformed quote: which field, at which absolute offset, and what was wrong. */
export class TdxQuoteParseError extends CcmeshError {
  override readonly name = 'TdxQuoteParseError';
  readonly field: string;
  readonly offset: number;

  constructor(field: string, offset: number, problem: string) {
    super(ErrorCode.ATTEST_PARSE, `TDX quote: ${field} at offset 0x${offset.toString(16)}: ${problem}`);
    this.field = field;
    this.offset = offset;
  }
}

/** TEE type of a TDX quote (0x00000000 would be SGX). */
export const TEE_TYPE_TDX = 0x81;
/** Attestation key type 2 = ECDSA-256-with-P-256 curve. */
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
/** Certification data type 6: QE report certification data. */
export const CERT_DATA_QE_REPORT = 6;
/** Certification data type 5: PCK certificate chain (concatenated PEM). */
export const CERT_DATA_PCK_CHAIN = 5;
/** Quote v5 body types. */
export const BODY_TYPE = { SGX: 1, TDX10: 2, TDX15: 3 } as const;

const TD_REPORT_10_LEN = 584;
const TD_REPORT_15_LEN = 648;
const QE_REPORT_LEN = 384;

/** The 48-byte quote header. */
export interface TdxQuoteHeader {
  readonly version: 4 | 5;
  readonly attestationKeyType: number;
  /** The u32 TEE type (0x81 for TDX). */
  readonly teeType: number;
  /** Bytes 0x08–0x0B (reserved; go-tdx-guest calls them PCE SVN / QE SVN). */
  readonly reserved: Uint8Array;
  readonly qeVendorId: Uint8Array;
  readonly userData: Uint8Array;
}

/** A TD report body (TDX 1.0, or TDX 1.5 with the two extra fields). Byte fields are views in stored order. */
export interface TdReportBody {
  /** 2 = TDX 1.0 (584 bytes), 3 = TDX 1.5 (648 bytes). A v4 quote always carries a TDX 1.0 body. */
  readonly layout: 2 | 3;
  readonly teeTcbSvn: Uint8Array;
  readonly mrSeam: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
  readonly tdAttributes: Uint8Array;
  readonly xfam: Uint8Array;
  readonly mrTd: Uint8Array;
  readonly mrConfigId: Uint8Array;
  readonly mrOwner: Uint8Array;
  readonly mrOwnerConfig: Uint8Array;
  readonly rtmr: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  readonly reportData: Uint8Array;
  /** TDX 1.5 only. */
  readonly teeTcbSvn2?: Uint8Array;
  /** TDX 1.5 only. */
  readonly mrServiceTd?: Uint8Array;
}

/** The QE's SGX REPORT body (384 bytes). */
export interface SgxReportBody {
  readonly raw: Uint8Array;
  readonly cpuSvn: Uint8Array;
  /** MISCSELECT as the stored little-endian u32 value. */
  readonly miscSelect: number;
  readonly miscSelectBytes: Uint8Array;
  readonly attributes: Uint8Array;
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly reportData: Uint8Array;
}

/** ECDSA-256 quote signature data with QE report certification data (type 6) and a PEM PCK chain (type 5). */
export interface TdxQuoteSignatureData {
  /** Quote signature r‖s, 32 bytes each, big-endian. */
  readonly signature: Uint8Array;
  /** Attestation public key x‖y, big-endian, without the 0x04 prefix. */
  readonly attestationKey: Uint8Array;
  readonly qeReport: SgxReportBody;
  /** QE report signature r‖s by the PCK key. */
  readonly qeReportSignature: Uint8Array;
  readonly qeAuthData: Uint8Array;
  /** The PCK chain PEM text bytes, including any terminating NUL. */
  readonly pckChainPem: Uint8Array;
}

/** A parsed quote. */
export interface TdxQuote {
  readonly header: TdxQuoteHeader;
  /** v5 body type field; undefined for v4, which has none. */
  readonly bodyType: number | undefined;
  readonly body: TdReportBody;
  /** The bytes the quote signature covers: header (+ v5 type and size) + body. */
  readonly signedBytes: Uint8Array;
  readonly signatureData: TdxQuoteSignatureData;
  /** Offset just past the signature data: where the quote ends. */
  readonly end: number;
  /** Bytes after the quote in the input (ignored). */
  readonly trailingBytes: number;
}

/** A bounds-checked cursor over one region; every read names its field for the error. */
class Cursor {
  readonly #buf: Uint8Array;
  readonly #base: number;
  #pos = 0;

  /** `base` is the absolute offset of `buf[0]` in the quote, for error messages. */
  constructor(buf: Uint8Array, base: number) {
    this.#buf = buf;
    this.#base = base;
  }

  get pos(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  take(n: number, field: string): Uint8Array {
    if (n > this.remaining) {
      throw new TdxQuoteParseError(field, this.#base + this.#pos, `needs ${n} bytes but only ${this.remaining} remain`);
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  u16(field: string): number {
    return viewOf(this.take(2, field)).getUint16(0, true);
  }

  u32(field: string): number {
    return viewOf(this.take(4, field)).getUint32(0, true);
  }

  /** Fails unless the region was consumed exactly; length fields must agree with their contents. */
  done(what: string): void {
    if (this.remaining !== 0) {
      throw new TdxQuoteParseError(what, this.#base + this.#pos, `${this.remaining} unexplained bytes inside the declared length`);
    }
  }
}

/** Parses a TDX quote v4/v5. Throws {@link TdxQuoteParseError} (and nothing else) on malformed input. */
export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  const c = new Cursor(bytes, 0);
  const version = c.u16('version');
  if (version !== 4 && version !== 5) throw new TdxQuoteParseError('version', 0, `unsupported quote version ${version} (expected 4 or 5)`);
  const attestationKeyType = c.u16('attestation key type');
  if (attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw new TdxQuoteParseError('attestation key type', 2, `${attestationKeyType} is not 2 (ECDSA-256-with-P-256)`);
  }
  const teeType = c.u32('TEE type');
  if (teeType !== TEE_TYPE_TDX) throw new TdxQuoteParseError('TEE type', 4, `0x${teeType.toString(16).padStart(8, '0')} is not 0x00000081 (TDX)`);
  const header: TdxQuoteHeader = {
    version,
    attestationKeyType,
    teeType,
    reserved: c.take(4, 'reserved'),
    qeVendorId: c.take(16, 'QE vendor ID'),
    userData: c.take(20, 'user data'),
  };

  let bodyType: number | undefined;
  let layout: 2 | 3 = 2;
  let bodyLen = TD_REPORT_10_LEN;
  if (version === 5) {
    const typeAt = c.pos;
    bodyType = c.u16('body type');
    const declared = c.u32('body size');
    if (bodyType === BODY_TYPE.TDX10) layout = 2;
    else if (bodyType === BODY_TYPE.TDX15) layout = 3;
    else throw new TdxQuoteParseError('body type', typeAt, `${bodyType} is not a TD report body (2 = TDX 1.0, 3 = TDX 1.5)`);
    bodyLen = layout === 2 ? TD_REPORT_10_LEN : TD_REPORT_15_LEN;
    if (declared !== bodyLen) throw new TdxQuoteParseError('body size', typeAt + 2, `${declared} does not match body type ${bodyType} (${bodyLen} bytes)`);
  }
  const bodyStart = c.pos;
  const body = parseTdReportBody(c.take(bodyLen, 'TD report body'), layout, bodyStart);
  const signedBytes = bytes.subarray(0, c.pos);

  const sigLen = c.u32('signature data length');
  const sigStart = c.pos;
  const signatureData = parseSignatureData(c.take(sigLen, 'signature data'), sigStart);
  return { header, bodyType, body, signedBytes, signatureData, end: c.pos, trailingBytes: c.remaining };
}

function parseTdReportBody(b: Uint8Array, layout: 2 | 3, base: number): TdReportBody {
  const c = new Cursor(b, base);
  const teeTcbSvn = c.take(16, 'TEE_TCB_SVN');
  const mrSeam = c.take(48, 'MRSEAM');
  const mrSignerSeam = c.take(48, 'MRSIGNERSEAM');
  const seamAttributes = c.take(8, 'SEAMATTRIBUTES');
  const tdAttributes = c.take(8, 'TDATTRIBUTES');
  const xfam = c.take(8, 'XFAM');
  const mrTd = c.take(48, 'MRTD');
  const mrConfigId = c.take(48, 'MRCONFIGID');
  const mrOwner = c.take(48, 'MROWNER');
  const mrOwnerConfig = c.take(48, 'MROWNERCONFIG');
  const rtmr = [c.take(48, 'RTMR0'), c.take(48, 'RTMR1'), c.take(48, 'RTMR2'), c.take(48, 'RTMR3')] as const;
  const reportData = c.take(64, 'REPORTDATA');
  const common = { layout, teeTcbSvn, mrSeam, mrSignerSeam, seamAttributes, tdAttributes, xfam, mrTd, mrConfigId, mrOwner, mrOwnerConfig, rtmr, reportData };
  if (layout === 2) {
    c.done('TD report body');
    return common;
  }
  const teeTcbSvn2 = c.take(16, 'TEE_TCB_SVN_2');
  const mrServiceTd = c.take(48, 'MRSERVICETD');
  c.done('TD report body');
  return { ...common, teeTcbSvn2, mrServiceTd };
}

function parseSignatureData(b: Uint8Array, base: number): TdxQuoteSignatureData {
  const c = new Cursor(b, base);
  const signature = c.take(64, 'quote signature');
  const attestationKey = c.take(64, 'attestation key');
  const typeAt = base + c.pos;
  const certType = c.u16('certification data type');
  if (certType !== CERT_DATA_QE_REPORT) {
    throw new TdxQuoteParseError('certification data type', typeAt, `${certType} is not 6 (QE report certification data)`);
  }
  const certLen = c.u32('certification data size');
  const certStart = base + c.pos;
  const cert = new Cursor(c.take(certLen, 'certification data'), certStart);
  c.done('signature data');

  const qeReportRaw = cert.take(QE_REPORT_LEN, 'QE report');
  const qeReport = parseSgxReportBody(qeReportRaw, certStart);
  const qeReportSignature = cert.take(64, 'QE report signature');
  const authLen = cert.u16('QE authentication data size');
  const qeAuthData = cert.take(authLen, 'QE authentication data');
  const innerTypeAt = certStart + cert.pos;
  const innerType = cert.u16('inner certification data type');
  if (innerType !== CERT_DATA_PCK_CHAIN) {
    throw new TdxQuoteParseError('inner certification data type', innerTypeAt, `${innerType} is not 5 (PCK certificate chain)`);
  }
  const innerLen = cert.u32('inner certification data size');
  const pckChainPem = cert.take(innerLen, 'PCK certificate chain');
  cert.done('certification data');
  return { signature, attestationKey, qeReport, qeReportSignature, qeAuthData, pckChainPem };
}

/** Parses a 384-byte SGX REPORT body (the QE report). `base` is its absolute offset, for errors. */
export function parseSgxReportBody(raw: Uint8Array, base = 0): SgxReportBody {
  const c = new Cursor(raw, base);
  const cpuSvn = c.take(16, 'QE CPUSVN');
  const miscSelectBytes = c.take(4, 'QE MISCSELECT');
  c.take(28, 'QE reserved');
  const attributes = c.take(16, 'QE ATTRIBUTES');
  const mrEnclave = c.take(32, 'QE MRENCLAVE');
  c.take(32, 'QE reserved');
  const mrSigner = c.take(32, 'QE MRSIGNER');
  c.take(96, 'QE reserved');
  const isvProdId = c.u16('QE ISVPRODID');
  const isvSvn = c.u16('QE ISVSVN');
  c.take(60, 'QE reserved');
  const reportData = c.take(64, 'QE REPORTDATA');
  c.done('QE report');
  const miscSelect = viewOf(miscSelectBytes).getUint32(0, true);
  return { raw, cpuSvn, miscSelect, miscSelectBytes, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData };
}
