/**
 * The one check every issuer makes on its input before touching the platform: report data is exactly 64 bytes.
 * Hardware would zero-pad a short value silently (configfs-tsm accepts 0–64 bytes), which would bind evidence to
 * bytes the caller never meant.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { REPORT_DATA_LENGTH } from './evidence.js';

/** Returns a private copy of `reportData`; throws INPUT_MALFORMED unless it is a 64-byte Uint8Array. */
export function checkReportData(reportData: unknown, issuer: string): Uint8Array {
  if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_LENGTH) {
    const got = reportData instanceof Uint8Array ? `${reportData.length} bytes` : typeof reportData;
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${issuer}: report data must be exactly ${REPORT_DATA_LENGTH} bytes, got ${got}`);
  }
  return new Uint8Array(reportData);
}
