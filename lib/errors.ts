/**
 * The error catalogue. Every error ccmesh raises on purpose carries a stable code (`CCMESH_ERR_<AREA>_<WHAT>`)
 * that operators can grep for and tests can assert on; messages say what was being attempted.
 */

/** Stable error codes, one per failure kind. Never renumber or reuse a code. */
export const ErrorCode = {
  CONFIG_INVALID: 'CCMESH_ERR_CONFIG_INVALID',
  USAGE: 'CCMESH_ERR_CLI_USAGE',
  INPUT_UNREADABLE: 'CCMESH_ERR_INPUT_UNREADABLE',
  INPUT_MALFORMED: 'CCMESH_ERR_INPUT_MALFORMED',
  ATTEST_PARSE: 'CCMESH_ERR_ATTEST_PARSE',
  ATTEST_COLLATERAL: 'CCMESH_ERR_ATTEST_COLLATERAL',
  ATTEST_FETCH: 'CCMESH_ERR_ATTEST_FETCH',
  ATTEST_FETCH_DISABLED: 'CCMESH_ERR_ATTEST_FETCH_DISABLED',
  /** No evidence issuer is usable here: configfs-tsm or the guest device is missing, unopenable or unsuitable. */
  ATTEST_ISSUER_UNAVAILABLE: 'CCMESH_ERR_ATTEST_ISSUER_UNAVAILABLE',
  /** An issuer was present but issuance failed (firmware/VMM error, unusable or mismatching output). */
  ATTEST_ISSUER_FAILED: 'CCMESH_ERR_ATTEST_ISSUER_FAILED',
  /** Another writer changed our configfs-tsm request while we used it, on every bounded attempt. */
  ATTEST_ISSUER_CONCURRENT: 'CCMESH_ERR_ATTEST_ISSUER_CONCURRENT',
  INTERNAL: 'CCMESH_ERR_INTERNAL',
} as const;

/** One of the codes in {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class for every deliberate ccmesh error. */
export class CcmeshError extends Error {
  override readonly name: string = 'CcmeshError';
  readonly code: ErrorCodeValue;

  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** One problem found in a configuration source: which field, what it held and what was expected. */
export interface ConfigIssue {
  readonly field: string;
  readonly value: string | undefined;
  readonly expected: string;
}

/** All problems of one configuration at once, so a user fixes everything in one round. */
export class ConfigError extends CcmeshError {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(what: string, issues: readonly ConfigIssue[]) {
    super(ErrorCode.CONFIG_INVALID, `invalid ${what}:\n${issues.map(formatIssue).join('\n')}`);
    this.issues = issues;
  }
}

/** Renders one issue as a single line: `  --port: got "x", expected a port number 1-65535`. */
export function formatIssue(issue: ConfigIssue): string {
  const got = issue.value === undefined ? 'nothing' : JSON.stringify(issue.value);
  return `  ${issue.field}: got ${got}, expected ${issue.expected}`;
}

/** Best-effort message of an unknown thrown value, for logs and reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
