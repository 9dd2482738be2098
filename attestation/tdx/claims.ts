/**
 * What a TDX quote states, as plain JSON-friendly data: snake_case keys, byte fields as lowercase hex in stored
 * byte order (the same convention as testdata facts.json), so claims can be compared, logged and matched against
 * reference values without knowing the binary layout.
 */
import { toHex, viewOf } from '../../lib/bytes.js';
import type { PckExtensions } from './pck-extensions.js';
import type { TdxQuote } from './quote.js';
import type { TcbOutcome } from './tcb-status.js';

/** Decoded TDATTRIBUTES bits that matter to policy. */
export interface TdAttributesFlags {
  /** Bit 0: the TD is debuggable — the host can read and modify its memory. */
  readonly debug: boolean;
  /** Bit 28: EPT violation #VE disabled. */
  readonly sept_ve_disable: boolean;
  /** Bit 30: protection keys supervisor. */
  readonly pks: boolean;
  /** Bit 63: perfmon. */
  readonly perfmon: boolean;
}

/** Claims of a verified (or at least parsed) TDX quote. */
export interface TdxClaims {
  readonly quote_version: 4 | 5;
  /** The header's u32 TEE type as 8 hex digits, most significant first ("00000081" = TDX). */
  readonly tee_type: string;
  /** v5 body type (2 = TDX 1.0, 3 = TDX 1.5); null for v4, which has no such field (its body is TDX 1.0). */
  readonly body_type: number | null;
  readonly qe_vendor_id: string;
  readonly user_data: string;
  readonly tee_tcb_svn: string;
  readonly tee_tcb_svn_2: string | null;
  readonly mr_seam: string;
  readonly mr_signer_seam: string;
  readonly seam_attributes: string;
  readonly td_attributes: string;
  readonly td_attributes_flags: TdAttributesFlags;
  readonly xfam: string;
  readonly mr_td: string;
  readonly mr_config_id: string;
  readonly mr_owner: string;
  readonly mr_owner_config: string;
  readonly rtmr: readonly [string, string, string, string];
  readonly report_data: string;
  readonly mr_service_td: string | null;
  /** From the PCK certificate; null when its SGX extensions could not be read. */
  readonly fmspc: string | null;
  readonly pce_id: string | null;
  readonly pce_svn: number | null;
  readonly qe_isv_svn: number;
  readonly qe_mr_signer: string;
  readonly qe_mr_enclave: string;
  readonly tcb_status: TcbOutcome;
  readonly tcb_date: string | null;
  /** "TDX_01" etc. when the TDX module was judged by a module identity (TEE_TCB_SVN[1] ≠ 0). */
  readonly tdx_module_identity: string | null;
  readonly qe_tcb_status: TcbOutcome;
  readonly advisory_ids: readonly string[];
}

/** TCB results folded into the claims. */
export interface TcbClaimParts {
  readonly tcb_status: TcbOutcome;
  readonly tcb_date: string | null;
  readonly tdx_module_identity: string | null;
  readonly qe_tcb_status: TcbOutcome;
  readonly advisory_ids: readonly string[];
}

/** Decodes the policy-relevant TDATTRIBUTES bits (the field is a little-endian u64). */
export function tdAttributesFlags(tdAttributes: Uint8Array): TdAttributesFlags {
  const v = viewOf(tdAttributes).getBigUint64(0, true);
  const bit = (n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
  return { debug: bit(0), sept_ve_disable: bit(28), pks: bit(30), perfmon: bit(63) };
}

/** Builds claims from a parsed quote, the PCK extensions (if readable) and the TCB outcome. */
export function buildTdxClaims(quote: TdxQuote, pck: PckExtensions | undefined, tcb: TcbClaimParts): TdxClaims {
  const b = quote.body;
  const qe = quote.signatureData.qeReport;
  return {
    quote_version: quote.header.version,
    tee_type: quote.header.teeType.toString(16).padStart(8, '0'),
    body_type: quote.bodyType ?? null,
    qe_vendor_id: toHex(quote.header.qeVendorId),
    user_data: toHex(quote.header.userData),
    tee_tcb_svn: toHex(b.teeTcbSvn),
    tee_tcb_svn_2: b.teeTcbSvn2 ? toHex(b.teeTcbSvn2) : null,
    mr_seam: toHex(b.mrSeam),
    mr_signer_seam: toHex(b.mrSignerSeam),
    seam_attributes: toHex(b.seamAttributes),
    td_attributes: toHex(b.tdAttributes),
    td_attributes_flags: tdAttributesFlags(b.tdAttributes),
    xfam: toHex(b.xfam),
    mr_td: toHex(b.mrTd),
    mr_config_id: toHex(b.mrConfigId),
    mr_owner: toHex(b.mrOwner),
    mr_owner_config: toHex(b.mrOwnerConfig),
    rtmr: [toHex(b.rtmr[0]), toHex(b.rtmr[1]), toHex(b.rtmr[2]), toHex(b.rtmr[3])],
    report_data: toHex(b.reportData),
    mr_service_td: b.mrServiceTd ? toHex(b.mrServiceTd) : null,
    fmspc: pck ? toHex(pck.fmspc) : null,
    pce_id: pck ? toHex(pck.pceId) : null,
    pce_svn: pck ? pck.tcb.pceSvn : null,
    qe_isv_svn: qe.isvSvn,
    qe_mr_signer: toHex(qe.mrSigner),
    qe_mr_enclave: toHex(qe.mrEnclave),
    ...tcb,
  };
}
