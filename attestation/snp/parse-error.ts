/**
 * The one error the SNP parsers throw. Reports and certificates arrive from the untrusted host, so every malformed
 * input must surface as this class (never a RangeError or a DerError leaking through) — the verifier turns it into
 * a reason, and fuzz tests assert nothing else escapes.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** Malformed SNP evidence or collateral: a report of the wrong size or version, an unreadable VEK, bad extensions. */
export class SnpParseError extends CcmeshError {
  override readonly name = 'SnpParseError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.ATTEST_PARSE, message, options);
  }
}
