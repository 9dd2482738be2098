/**
 * A request the Coordinator refuses on purpose. Handlers throw it; the gRPC layer turns it into exactly one status
 * with a message that names the reason, and counts attestation failures by their closed-set label.
 */
import { status } from '@grpc/grpc-js';
import type { AttestationFailure } from '../metrics.js';

/** A deliberate refusal: gRPC status, human-readable details, optional metric label. */
export class Refusal extends Error {
  override readonly name = 'Refusal';
  readonly code: status;
  readonly failure: AttestationFailure | undefined;

  constructor(code: status, message: string, failure?: AttestationFailure) {
    super(message);
    this.code = code;
    this.failure = failure;
  }
}

/** Shorthands for the statuses the Coordinator uses. */
export const refuse = {
  invalid: (msg: string): Refusal => new Refusal(status.INVALID_ARGUMENT, msg, 'malformed'),
  state: (msg: string): Refusal => new Refusal(status.FAILED_PRECONDITION, msg, 'state'),
  denied: (msg: string, failure: AttestationFailure): Refusal => new Refusal(status.PERMISSION_DENIED, msg, failure),
  unauthenticated: (msg: string, failure: AttestationFailure): Refusal => new Refusal(status.UNAUTHENTICATED, msg, failure),
  conflict: (msg: string): Refusal => new Refusal(status.ABORTED, msg),
  unavailable: (msg: string): Refusal => new Refusal(status.UNAVAILABLE, msg),
  /** A limit shed the request before it did its work; the client may retry later. */
  exhausted: (msg: string): Refusal => new Refusal(status.RESOURCE_EXHAUSTED, msg),
};
