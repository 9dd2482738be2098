/**
 * The shape of every verification outcome. Expected failures are data, not exceptions: a rejected report yields
 * `{ ok: false, reasons }` with one human-readable reason per failed check, and `claims` whenever the evidence
 * could at least be parsed (so an operator sees what was presented even when it was refused).
 */

/** Outcome of verifying one piece of evidence. */
export interface VerifyResult<C> {
  readonly ok: boolean;
  /** What the evidence states; present once parsing succeeded, even if a later check failed. */
  readonly claims: C | undefined;
  /** One entry per failed check, each naming the check; empty when ok. */
  readonly reasons: readonly string[];
}

/** Builds a result from claims and reasons: ok exactly when there are claims and no reasons. */
export function resultOf<C>(claims: C | undefined, reasons: readonly string[]): VerifyResult<C> {
  return { ok: claims !== undefined && reasons.length === 0, claims, reasons };
}
