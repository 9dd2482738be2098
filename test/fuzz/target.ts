/**
 * One fuzz target: a parser an attacker can reach, fed mutated copies of its committed corpus
 * (`corpus/<name>/`). The property every target shares: an input either gives a value or an ordinary refusal
 * (an Error of a kind the parser documents, with a message) — never a crash, a hang, a TypeError/RangeError from our
 * own code or unbounded memory. Targets may add consistency checks (round trips) by throwing {@link FuzzViolation}.
 */

/** How the corpus files of a target are read and mutated. */
export type FuzzInputKind = 'bytes' | 'json';

/** A target; `run` gets bytes (kind `bytes`) or a parsed JSON value (kind `json`). */
export interface FuzzTarget {
  readonly name: string;
  /** What is fuzzed, in a few words (listed by `main.ts --list` and docs/reliability.md). */
  readonly what: string;
  readonly kind: FuzzInputKind;
  run(input: unknown): unknown;
  /** True for an error that is a clean refusal; default {@link isOrdinaryError}. */
  readonly refusal?: (err: unknown) => boolean;
}

/** Thrown by a target when a result is inconsistent (a failed round trip): always a finding. */
export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

/** Errors that mean a bug in our code when a parser lets them escape. */
const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, EvalError, URIError];

/** An Error with a message that is not a programming error (TypeError, RangeError, …) nor a violation. */
export function isOrdinaryError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof FuzzViolation) return false;
  if (PROGRAMMING_ERRORS.some((E) => err instanceof E)) return false;
  return typeof err.message === 'string' && err.message.length > 0;
}

/** A refusal predicate: `isOrdinaryError` and an instance of one of `classes`. */
export function refusedWith(...classes: (abstract new (...args: never[]) => Error)[]): (err: unknown) => boolean {
  return (err) => isOrdinaryError(err) && classes.some((C) => err instanceof C);
}

/** For targets that must never throw at all (verifiers returning `{ ok, reasons }`, spec parsers returning issues). */
export const NEVER_THROWS = (): boolean => false;
