/**
 * Reference values: what a relying party expects of a TD beyond "Intel signed this" — which MRTD / RTMRs / TDX
 * module, configuration and owner IDs, attributes and XFAM, and which TCB statuses it tolerates. Kept apart from
 * the signature checks so the same claims can be judged against different expectations. Every field is optional;
 * the one default that restricts is `allowDebug: false` (a debug TD's memory is readable by the host).
 */
import type { MeasurementHex, ReportDataHex } from '../../lib/brand.js';
import { deepFreeze, JsonObjectReader } from '../../lib/config/json-reader.js';
import type { ConfigIssue } from '../../lib/errors.js';
import type { TdxClaims } from './claims.js';
import { NOT_EVALUATED, TCB_STATUSES, type TcbStatus } from './tcb-status.js';

/** Parsed TDX reference values; hex is lowercase. Absent fields mean "any". */
export interface TdxReferenceValues {
  /** Acceptable MRTD values (any of), 48 bytes each. */
  readonly mrTd?: readonly MeasurementHex[];
  /** Expected RTMR0–3; null leaves that register unchecked. */
  readonly rtmr?: readonly [string | null, string | null, string | null, string | null];
  /** Acceptable MRSEAM values (TDX module builds, any of), 48 bytes each. */
  readonly mrSeam?: readonly string[];
  /** Exact MRCONFIGID (48 bytes). */
  readonly mrConfigId?: string;
  /** Exact MROWNER (48 bytes). */
  readonly mrOwner?: string;
  /** Exact XFAM (8 bytes, stored order). */
  readonly xfam?: string;
  /** Exact TDATTRIBUTES (8 bytes, stored order). */
  readonly tdAttributes?: string;
  /** Accept debug TDs (TDATTRIBUTES bit 0); default false. */
  readonly allowDebug: boolean;
  /** Exact REPORTDATA (64 bytes). */
  readonly reportData?: ReportDataHex;
  /** TCB statuses accepted for both the platform and the QE (overrides the verifier's default). */
  readonly acceptableTcbStatuses?: readonly TcbStatus[];
  /**
   * Present (and true) only when an alternative knowingly lists no `mrTd`. Not judged here: the manifest parser
   * refuses an alternative without MRTD unless it says this (MRCONFIGID alone proves nothing).
   */
  readonly allowUnmeasured?: true;
  /**
   * Present (and true) only when the relying party accepts a quote whose TCB status could not be evaluated (no
   * collateral). Judged by {@link checkTcbEvaluated}; the Coordinator refuses unevaluated TDX evidence otherwise.
   */
  readonly allowUnevaluatedTcb?: true;
}

const KEYS = [
  'mrTd', 'rtmr', 'mrSeam', 'mrConfigId', 'mrOwner', 'xfam', 'tdAttributes', 'allowDebug', 'reportData', 'acceptableTcbStatuses',
  'allowUnmeasured', 'allowUnevaluatedTcb',
] as const;

/** Parses TDX reference values from a JSON value; `path` prefixes field names in issues (e.g. "tdx"). */
export function parseTdxReferenceValues(json: unknown, path: string): { values?: TdxReferenceValues; issues: ConfigIssue[] } {
  const r = new JsonObjectReader(path, json, 'an object of TDX reference values');
  if (r.issues.length > 0) return { issues: r.issues };
  r.allowOnly(KEYS);
  const mrTd = r.hexList('mrTd', 48) as MeasurementHex[] | undefined;
  const mrSeam = r.hexList('mrSeam', 48);
  const rtmr = r.hexOrNullTuple('rtmr', 4, 48) as [string | null, string | null, string | null, string | null] | undefined;
  const mrConfigId = r.hex('mrConfigId', 48);
  const mrOwner = r.hex('mrOwner', 48);
  const xfam = r.hex('xfam', 8);
  const tdAttributes = r.hex('tdAttributes', 8);
  const reportData = r.hex('reportData', 64) as ReportDataHex | undefined;
  const allowDebug = r.bool('allowDebug') ?? false;
  // SECURITY: only Intel's own status names; "NoMatchingTcbLevel" / "not_evaluated" can't be made acceptable.
  const acceptableTcbStatuses = r.enumList<TcbStatus>('acceptableTcbStatuses', TCB_STATUSES);
  const allowUnmeasured = r.bool('allowUnmeasured');
  const allowUnevaluatedTcb = r.bool('allowUnevaluatedTcb');
  if (r.issues.length > 0) return { issues: r.issues };
  const values: TdxReferenceValues = {
    ...(mrTd ? { mrTd } : {}),
    ...(rtmr ? { rtmr } : {}),
    ...(mrSeam ? { mrSeam } : {}),
    ...(mrConfigId ? { mrConfigId } : {}),
    ...(mrOwner ? { mrOwner } : {}),
    ...(xfam ? { xfam } : {}),
    ...(tdAttributes ? { tdAttributes } : {}),
    allowDebug,
    ...(reportData ? { reportData } : {}),
    ...(acceptableTcbStatuses ? { acceptableTcbStatuses: [...acceptableTcbStatuses] } : {}),
    // Only when true, so `false` (the default) keeps the canonical form of existing manifests unchanged.
    ...(allowUnmeasured === true ? { allowUnmeasured: true as const } : {}),
    ...(allowUnevaluatedTcb === true ? { allowUnevaluatedTcb: true as const } : {}),
  };
  return { values: deepFreeze(values), issues: [] };
}

/** Checks measurements, identities, attributes and report data (not TCB status); one reason per mismatch. */
export function checkTdxMeasurements(claims: TdxClaims, values: TdxReferenceValues): string[] {
  const reasons: string[] = [];
  if (values.mrTd && !(values.mrTd as readonly string[]).includes(claims.mr_td)) {
    reasons.push(`MRTD ${claims.mr_td} is not one of the ${values.mrTd.length} reference value(s)`);
  }
  values.rtmr?.forEach((want, i) => {
    const got = claims.rtmr[i];
    if (want !== null && want !== got) reasons.push(`RTMR${i} ${got} differs from the expected ${want}`);
  });
  if (values.mrSeam && !values.mrSeam.includes(claims.mr_seam)) {
    reasons.push(`MRSEAM ${claims.mr_seam} is not one of the ${values.mrSeam.length} accepted TDX module measurement(s)`);
  }
  const exact = (name: string, want: string | undefined, got: string): void => {
    if (want !== undefined && want !== got) reasons.push(`${name} ${got} differs from the expected ${want}`);
  };
  exact('MRCONFIGID', values.mrConfigId, claims.mr_config_id);
  exact('MROWNER', values.mrOwner, claims.mr_owner);
  exact('XFAM', values.xfam, claims.xfam);
  exact('TDATTRIBUTES', values.tdAttributes, claims.td_attributes);
  exact('REPORTDATA', values.reportData, claims.report_data);
  if (!values.allowDebug && claims.td_attributes_flags.debug) {
    reasons.push('TD is a debug TD (TDATTRIBUTES bit 0 DEBUG set) but the reference values refuse debug TDs');
  }
  return reasons;
}

/** Reasons the TCB outcomes are not in `acceptable` (empty = acceptable). "not_evaluated" is not judged here. */
export function checkTcbStatuses(claims: Pick<TdxClaims, 'tcb_status' | 'qe_tcb_status'>, acceptable: readonly string[]): string[] {
  const reasons: string[] = [];
  const judge = (what: string, status: string): void => {
    if (status === NOT_EVALUATED) return;
    if (status === 'NoMatchingTcbLevel') {
      reasons.push(`${what}: no matching TCB level (the platform is below every level in Intel's collateral; unsupported)`);
    } else if (!acceptable.includes(status)) {
      reasons.push(`${what} is ${status}, which is not one of the acceptable statuses (${acceptable.join(', ')})`);
    }
  };
  judge('TDX TCB status', claims.tcb_status);
  judge('QE TCB status', claims.qe_tcb_status);
  return reasons;
}

/**
 * Reasons a quote whose platform or QE TCB status was not evaluated (no collateral) is refused, unless the
 * reference values say `allowUnevaluatedTcb` (empty = acceptable). Without this, a TD on a platform Intel lists
 * as OutOfDate or Revoked would pass on signatures alone.
 */
export function checkTcbEvaluated(claims: Pick<TdxClaims, 'tcb_status' | 'qe_tcb_status'>, values: TdxReferenceValues): string[] {
  if (values.allowUnevaluatedTcb === true) return [];
  const missing = [claims.tcb_status === NOT_EVALUATED ? 'TDX TCB' : '', claims.qe_tcb_status === NOT_EVALUATED ? 'QE TCB' : ''].filter((s) => s !== '');
  if (missing.length === 0) return [];
  return [`${missing.join(' and ')} status not evaluated (no TDX collateral for this quote) and the reference values do not set allowUnevaluatedTcb`];
}

/** Checks claims against reference values, including `acceptableTcbStatuses` when given; one reason per mismatch. */
export function checkTdxReference(claims: TdxClaims, values: TdxReferenceValues): string[] {
  const reasons = checkTdxMeasurements(claims, values);
  if (values.acceptableTcbStatuses) reasons.push(...checkTcbStatuses(claims, values.acceptableTcbStatuses));
  return reasons;
}
