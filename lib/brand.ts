/**
 * Branded strings, so a value of one meaning can't be passed where another is expected: a launch measurement is
 * not a host-data policy hash even though both are lowercase hex.
 */

declare const brand: unique symbol;

/** `T` tagged with the compile-time-only label `B`. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Lowercase hex of a launch measurement (SNP MEASUREMENT, TDX MRTD). */
export type MeasurementHex = Brand<string, 'MeasurementHex'>;
/** Lowercase hex SHA-256 of a pod's policy / initdata: SNP HOST_DATA, TDX MRCONFIGID[0:32]. */
export type PolicyHash = Brand<string, 'PolicyHash'>;
/** Lowercase hex of 64 bytes of report data. */
export type ReportDataHex = Brand<string, 'ReportDataHex'>;
/** Lowercase hex of any other digest. */
export type DigestHex = Brand<string, 'DigestHex'>;
