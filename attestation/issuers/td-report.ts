/**
 * The 1024-byte TDREPORT (TDG.MR.REPORT, FORMATS.md §5.3) that /dev/tdx_guest returns: REPORTMACSTRUCT,
 * TEE_TCB_INFO and TDINFO. It is MAC-protected for the local quoting enclave, not signed, so nothing here makes it
 * trustworthy: this parser exists for diagnostics (what are my MRTD and RTMRs?) and for tests.
 */
import { viewOf } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** sizeof(TDREPORT_STRUCT) (TDX_REPORT_LEN). */
export const TD_REPORT_SIZE = 1024;
/** REPORTTYPE.TYPE of a TDX report. */
export const TD_REPORT_TYPE_TDX = 0x81;

/** A parsed TDREPORT. Byte fields are copies in stored order; the u64 attribute words are bigints. */
export interface TdReport {
  readonly reportType: { readonly type: number; readonly subtype: number; readonly version: number };
  readonly cpuSvn: Uint8Array;
  readonly teeTcbInfoHash: Uint8Array;
  readonly teeInfoHash: Uint8Array;
  readonly reportData: Uint8Array;
  readonly mac: Uint8Array;
  readonly teeTcbInfo: {
    readonly valid: Uint8Array;
    readonly teeTcbSvn: Uint8Array;
    readonly mrSeam: Uint8Array;
    readonly mrSignerSeam: Uint8Array;
    readonly attributes: Uint8Array;
    /** TDX 1.5 modules; zero on 1.0. */
    readonly teeTcbSvn2: Uint8Array;
  };
  readonly tdInfo: {
    readonly attributes: bigint;
    readonly xfam: bigint;
    readonly mrTd: Uint8Array;
    readonly mrConfigId: Uint8Array;
    readonly mrOwner: Uint8Array;
    readonly mrOwnerConfig: Uint8Array;
    readonly rtmr: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    /** TDX 1.5 modules; zero on 1.0. */
    readonly servTdHash: Uint8Array;
  };
}

/** Parses a TDREPORT; throws ATTEST_PARSE for a wrong length or a REPORTTYPE that is not TDX. */
export function parseTdReport(bytes: Uint8Array): TdReport {
  if (!(bytes instanceof Uint8Array) || bytes.length !== TD_REPORT_SIZE) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new CcmeshError(ErrorCode.ATTEST_PARSE, `TDREPORT: expected ${TD_REPORT_SIZE} bytes, got ${got}`);
  }
  const b = new Uint8Array(bytes);
  // `b` is a plain private Uint8Array (never a Buffer), so slice() copies.
  const at = (off: number, len: number): Uint8Array => b.slice(off, off + len);
  const reportType = { type: b[0]!, subtype: b[1]!, version: b[2]! };
  if (reportType.type !== TD_REPORT_TYPE_TDX) {
    throw new CcmeshError(ErrorCode.ATTEST_PARSE, `TDREPORT: REPORTTYPE.TYPE is 0x${reportType.type.toString(16)}, not 0x81 (TDX)`);
  }
  const dv = viewOf(b);
  return {
    reportType,
    cpuSvn: at(16, 16),
    teeTcbInfoHash: at(32, 48),
    teeInfoHash: at(80, 48),
    reportData: at(128, 64),
    mac: at(224, 32),
    teeTcbInfo: {
      valid: at(256, 8),
      teeTcbSvn: at(264, 16),
      mrSeam: at(280, 48),
      mrSignerSeam: at(328, 48),
      attributes: at(376, 8),
      teeTcbSvn2: at(384, 16),
    },
    tdInfo: {
      attributes: dv.getBigUint64(512, true),
      xfam: dv.getBigUint64(520, true),
      mrTd: at(528, 48),
      mrConfigId: at(576, 48),
      mrOwner: at(624, 48),
      mrOwnerConfig: at(672, 48),
      rtmr: [at(720, 48), at(768, 48), at(816, 48), at(864, 48)],
      servTdHash: at(912, 48),
    },
  };
}
