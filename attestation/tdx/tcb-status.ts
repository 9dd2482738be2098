/**
 * The closed set of TCB status names Intel's TCB info and QE identity documents use, plus the two outcomes
 * ccmesh adds: no level matched, and nothing was evaluated (no collateral).
 */

/** Statuses that appear in Intel collateral `tcbLevels[].tcbStatus`. */
export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;

/** One of {@link TCB_STATUSES}. */
export type TcbStatus = (typeof TCB_STATUSES)[number];

/** No TCB level matched: the platform is below every level Intel lists (unsupported). Never acceptable. */
export const NO_MATCHING_TCB_LEVEL = 'NoMatchingTcbLevel';

/** No collateral was supplied (or it could not be used), so no status was computed. */
export const NOT_EVALUATED = 'not_evaluated';

/** What a TCB evaluation can report. */
export type TcbOutcome = TcbStatus | typeof NO_MATCHING_TCB_LEVEL | typeof NOT_EVALUATED;

/** Statuses accepted when the caller does not say otherwise. */
export const DEFAULT_ACCEPTABLE_TCB_STATUSES: readonly TcbStatus[] = Object.freeze(['UpToDate', 'SWHardeningNeeded']);

/** True when `s` is one of {@link TCB_STATUSES}. */
export function isTcbStatus(s: unknown): s is TcbStatus {
  return typeof s === 'string' && (TCB_STATUSES as readonly string[]).includes(s);
}
