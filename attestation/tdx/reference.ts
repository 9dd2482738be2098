/**
 * Reference values: what a relying party expects of a TD beyond "Intel signed this" — which MRTD / RTMRs / TDX
 * module, configuration and owner IDs, attributes and XFAM, and which TCB statuses it tolerates. Kept apart from
 * the signature checks so the same claims can be judged against different expectations. Every field is optional;
 * the one default that restricts is `allowDebug: false` (a debug TD's memory is readable by the host).
 */
import type { MeasurementHex, ReportDataHex } from '../../lib/brand.js';
import { fromHex } from '../../lib/bytes.js';
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
}

const KEYS = ['mrTd', 'rtmr', 'mrSeam', 'mrConfigId', 'mrOwner', 'xfam', 'tdAttributes', 'allowDebug', 'reportData', 'acceptableTcbStatuses'] as const;

function show(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses TDX reference values from a JSON value; `path` prefixes field names in issues (e.g. "tdx"). */
export function parseTdxReferenceValues(json: unknown, path: string): { values?: TdxReferenceValues; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const issue = (field: string, value: unknown, expected: string): void => {
    issues.push({ field, value: show(value), expected });
  };
  if (!isRecord(json)) {
    issue(path, json, 'an object of TDX reference values');
    return { issues };
  }
  for (const key of Object.keys(json)) {
    if (!(KEYS as readonly string[]).includes(key)) issue(`${path}.${key}`, json[key], `one of the keys ${KEYS.join(', ')}`);
  }
  const hex = (field: string, v: unknown, bytes: number): string | undefined => {
    const b = typeof v === 'string' ? fromHex(v) : undefined;
    if (b?.length !== bytes) {
      issue(field, v, `${bytes} bytes of hex`);
      return undefined;
    }
    return (v as string).toLowerCase();
  };
  const optHex = (key: string, bytes: number): string | undefined => (json[key] === undefined ? undefined : hex(`${path}.${key}`, json[key], bytes));
  const hexList = (key: string, bytes: number): string[] | undefined => {
    const v = json[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      issue(`${path}.${key}`, v, `a non-empty list of ${bytes}-byte hex strings`);
      return undefined;
    }
    const out = v.map((x, i) => hex(`${path}.${key}[${i}]`, x, bytes));
    return out.every((x) => x !== undefined) ? out : undefined;
  };

  const mrTd = hexList('mrTd', 48) as MeasurementHex[] | undefined;
  const mrSeam = hexList('mrSeam', 48);
  let rtmr: [string | null, string | null, string | null, string | null] | undefined;
  if (json.rtmr !== undefined) {
    const v = json.rtmr;
    if (!Array.isArray(v) || v.length !== 4) {
      issue(`${path}.rtmr`, v, 'a list of exactly 4 entries (48-byte hex or null)');
    } else {
      const out = v.map((x, i) => (x === null ? null : hex(`${path}.rtmr[${i}]`, x, 48)));
      if (out.every((x) => x !== undefined)) rtmr = out as [string | null, string | null, string | null, string | null];
    }
  }
  const mrConfigId = optHex('mrConfigId', 48);
  const mrOwner = optHex('mrOwner', 48);
  const xfam = optHex('xfam', 8);
  const tdAttributes = optHex('tdAttributes', 8);
  const reportData = optHex('reportData', 64) as ReportDataHex | undefined;
  let allowDebug = false;
  if (json.allowDebug !== undefined) {
    if (typeof json.allowDebug === 'boolean') allowDebug = json.allowDebug;
    else issue(`${path}.allowDebug`, json.allowDebug, 'true or false');
  }
  let acceptableTcbStatuses: TcbStatus[] | undefined;
  if (json.acceptableTcbStatuses !== undefined) {
    const v = json.acceptableTcbStatuses;
    if (!Array.isArray(v) || v.length === 0) {
      issue(`${path}.acceptableTcbStatuses`, v, `a non-empty list of TCB statuses (${TCB_STATUSES.join(', ')})`);
    } else {
      v.forEach((x, i) => {
        // SECURITY: only Intel's own status names; "NoMatchingTcbLevel" / "not_evaluated" can't be made acceptable.
        if (!(TCB_STATUSES as readonly unknown[]).includes(x)) issue(`${path}.acceptableTcbStatuses[${i}]`, x, `one of ${TCB_STATUSES.join(', ')}`);
      });
      acceptableTcbStatuses = v as TcbStatus[];
    }
  }
  if (issues.length > 0) return { issues };
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
  };
  return { values: deepFreeze(values), issues };
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v as object);
  return Object.freeze(o);
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

/** Checks claims against reference values, including `acceptableTcbStatuses` when given; one reason per mismatch. */
export function checkTdxReference(claims: TdxClaims, values: TdxReferenceValues): string[] {
  const reasons = checkTdxMeasurements(claims, values);
  if (values.acceptableTcbStatuses) reasons.push(...checkTcbStatuses(claims, values.acceptableTcbStatuses));
  return reasons;
}
