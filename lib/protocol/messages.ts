/**
 * The Coordinator's RPC messages (UserAPI and MeshAPI), their wire form and their decoders. docs/protocol.md is the
 * prose version of this file; keep them in step.
 */
import type { WireReader } from './wire.js';

/** Evidence as it travels: an SNP report with its VEK and chain, or a TDX quote. */
export type WireEvidence =
  | { readonly format: 'snp'; readonly report: Uint8Array; readonly vek: Uint8Array; readonly chain: Uint8Array }
  | { readonly format: 'tdx'; readonly quote: Uint8Array };

/** Decodes evidence; SNP requires the VEK (DER) and ASK+ARK chain (PEM) alongside the report. */
export function readEvidence(r: WireReader): WireEvidence {
  const format = r.oneOf('format', ['snp', 'tdx'] as const);
  if (format === 'snp') {
    return { format, report: r.bytes('report', 1184, 1184), vek: r.bytes('vek', 64, 16 * 1024), chain: r.bytes('chain', 64, 64 * 1024) };
  }
  return { format, quote: r.bytes('quote', 48, 64 * 1024) };
}

/** Encodes evidence for the wire. */
export function writeEvidence(e: WireEvidence): Record<string, string> {
  const b = (x: Uint8Array): string => Buffer.from(x).toString('base64');
  return e.format === 'snp' ? { format: 'snp', report: b(e.report), vek: b(e.vek), chain: b(e.chain) } : { format: 'tdx', quote: b(e.quote) };
}

/** Length of Coordinator and client nonces. */
export const NONCE_LENGTH = 32;

/** One RSA-OAEP-encrypted copy of seed and salt for a seed-share owner (returned by the first SetManifest). */
export interface SeedShareWire {
  /** The owner's RSA public key, hex SPKI DER (as in the manifest). */
  readonly ownerKey: string;
  /** base64 ciphertext. */
  readonly encryptedSeed: string;
}

/** SetManifest response. */
export interface SetManifestResponse {
  readonly transitionHash: string;
  readonly manifestHash: string;
  readonly rootCa: string;
  readonly meshCaBundle: string;
  /** Only on the very first SetManifest; empty afterwards. */
  readonly seedShares: readonly SeedShareWire[];
  /** The mesh owner the Coordinator serves (hex pin, `lib/protocol/mesh-owner.ts`). */
  readonly meshOwner: string;
}

/** Attest response (both APIs). */
export interface AttestResponse {
  readonly evidence: unknown;
  /** Hex pin of the mesh owner bound into the evidence; '' when the Coordinator serves none (fresh, recovery). */
  readonly meshOwner: string;
}

/** GetManifests response: the whole history, oldest first. */
export interface GetManifestsResponse {
  readonly manifests: readonly string[];
  readonly policies: Readonly<Record<string, string>>;
  readonly transitions: readonly string[];
  readonly rootCa: string;
  readonly meshCaBundle: string;
  readonly state: 'fresh' | 'recovery' | 'ready';
  /** Hex pin of the mesh owner ('' unless ready). */
  readonly meshOwner: string;
}

/**
 * GetTrustBundle response (mesh API, public data): what sidecars poll to learn a new mesh CA before any peer shows a
 * leaf from it. Authentic through the root the pod already holds (every bundle certificate must verify under it).
 */
export interface TrustBundleResponse {
  readonly rootCa: string;
  /** Current mesh CA, then the previous one during a transition, PEM. */
  readonly meshCaBundle: string;
  /** SHA-256 hex of the current manifest (informational: what the bundle belongs to). */
  readonly manifestHash: string;
}

/**
 * How a RenewMeshCert refusal (FAILED_PRECONDITION) that wants `evidence` in the request starts: the leaf's generation
 * had other reference values than the current manifest, so the pod must attest again (the sidecar retries with it).
 */
export const FRESH_EVIDENCE_REQUIRED = 'fresh evidence required';

/** NewMeshCert / RenewMeshCert response. */
export interface MeshCertResponse {
  /** Leaf then mesh CA, PEM. */
  readonly certChain: string;
  /** Current mesh CA first, then the previous one during a transition. */
  readonly meshCaBundle: string;
  readonly rootCa: string;
  /** base64 of the 64-byte workload secret (NewMeshCert only). */
  readonly workloadSecret?: string;
  readonly workloadSecretId?: string;
  /**
   * Pinned config files of the pod's policy (NewMeshCert only): absolute mount path → relative file → SHA-256 hex.
   * The initializer refuses to write any secret unless the mounted files match exactly.
   */
  readonly configDigests?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Hex pin of the mesh owner the Coordinator serves (NewMeshCert only); the initializer compares it with its pin. */
  readonly meshOwner?: string;
}
