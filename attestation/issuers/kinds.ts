/**
 * The evidence issuer kinds a user can ask for (`--tee`), apart from the issuers themselves: flag parsers (the
 * sidecar's among them) import this and not the device code, which pulls in the native FFI.
 */

/** Issuer kinds a user can ask for. */
export const ISSUER_KINDS = ['auto', 'configfs', 'sev-guest', 'tdx-guest', 'simulated'] as const;
/** One of {@link ISSUER_KINDS}. */
export type IssuerKind = (typeof ISSUER_KINDS)[number];
