/**
 * Upper bounds on a manifest, so a hostile or broken document is refused before it costs memory or CPU (every
 * SAN becomes a certificate field, every key a parse, every alternative a comparison per attestation).
 */

/** Limits applied by `parseManifest`. */
export const MANIFEST_LIMITS = {
  /** Size of the JSON text in UTF-8 bytes. */
  documentBytes: 1024 * 1024,
  /** Nesting depth of JSON objects and arrays (a valid manifest needs 6). */
  depth: 16,
  policies: 10_000,
  sansPerPolicy: 64,
  /** RFC 1035 name length; also bounds IP literals. */
  sanChars: 253,
  workloadSecretIdChars: 256,
  /** Alternatives per reference-value list (snp, tdx, simulated). */
  referenceAlternatives: 64,
  /** Keys per owner list. */
  ownerKeys: 64,
  /** SPKI DER bytes of one key (RSA-16384 is about 2 KiB). */
  spkiBytes: 4096,
  /** RSA modulus size of a seed-share owner key. */
  rsaMinBits: 3072,
  rsaMaxBits: 16384,
  mountsPerPolicy: 64,
  filesPerMount: 4096,
  pathChars: 4096,
  simulatedNameChars: 64,
  /** Total pinned files over all policies. */
  configDigestFiles: 100_000,
} as const;
