/**
 * The Coordinator's RPC messages as TypeScript sees them: one interface per message of
 * `proto/ccmesh/coordinator/v1/coordinator.proto` (field names in the proto's lowerCamelCase JSON form). Requests
 * are what a client sends; responses are what grpc-js decodes (every field present: bytes as Buffer, absent
 * nested messages as null). docs/protocol.md is the prose version; `messages.test.ts` round-trips every interface
 * through the codec so a field the proto lacks fails a test.
 */

/** Evidence as the Coordinator judges it: an SNP report with its VEK and chain, or a TDX quote. */
export type WireEvidence =
  | { readonly format: 'snp'; readonly report: Uint8Array; readonly vek: Uint8Array; readonly chain: Uint8Array }
  | { readonly format: 'tdx'; readonly quote: Uint8Array };

/** The `Evidence` message: exactly one of `snp` and `tdx`. */
export interface EvidenceMessage {
  readonly snp?: { readonly report: Uint8Array; readonly vek: Uint8Array; readonly chain: Uint8Array } | null;
  readonly tdx?: { readonly quote: Uint8Array } | null;
}

/** {@link WireEvidence} as the `Evidence` message. */
export function evidenceMessage(e: WireEvidence): EvidenceMessage {
  return e.format === 'snp' ? { snp: { report: e.report, vek: e.vek, chain: e.chain } } : { tdx: { quote: e.quote } };
}

/** Length of Coordinator and client nonces. */
export const NONCE_LENGTH = 32;

/**
 * How a RenewMeshCert refusal (FAILED_PRECONDITION) that wants `evidence` in the request starts: the leaf's generation
 * had other reference values than the current manifest, so the pod must attest again (the sidecar retries with it).
 */
export const FRESH_EVIDENCE_REQUIRED = 'fresh evidence required';

/** The Coordinator's state as `GetManifests` names it (the proto enum's value names). */
export const COORDINATOR_STATE = Object.freeze({
  fresh: 'COORDINATOR_STATE_FRESH',
  recovery: 'COORDINATOR_STATE_RECOVERY',
  ready: 'COORDINATOR_STATE_READY',
} as const);

/** One of {@link COORDINATOR_STATE}'s values. */
export type WireCoordinatorState = (typeof COORDINATOR_STATE)[keyof typeof COORDINATOR_STATE];

// ---- requests -------------------------------------------------------------------------------------------------

export type GetNonceRequest = Record<string, never>;
export type GetManifestsRequest = Record<string, never>;
export type GetTrustBundleRequest = Record<string, never>;

export interface AttestRequest {
  /** The caller's nonce (32 bytes). */
  readonly nonce: Uint8Array;
}

export interface SetManifestRequest {
  readonly manifest: Uint8Array;
  readonly policies: readonly Uint8Array[];
  readonly nonce?: Uint8Array;
  /** Hex SPKI DER of the signer. */
  readonly ownerKey?: string;
  readonly signature?: Uint8Array;
}

export interface RecoverRequest {
  readonly seed: Uint8Array;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ownerKey: string;
  readonly signature: Uint8Array;
}

/** IssueOperatorCert request: a workload owner asks for an operator certificate for `publicKey`. */
export interface OperatorCertRequest {
  /** The operator's P-256 key, SPKI DER. */
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
  /** Hex SPKI DER of a workload owner key of the current manifest. */
  readonly ownerKey: string;
  /** By the owner key over `operatorCertSignedData(publicKey, nonce, Coordinator TLS key)`. */
  readonly signature: Uint8Array;
}

export interface NewMeshCertRequest {
  readonly evidence?: EvidenceMessage;
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
}

export interface RenewMeshCertRequest {
  readonly certChain: string;
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
  readonly evidence?: EvidenceMessage;
  /** By the new key, over `renewKeyPossessionData`: the renewing pod holds the key it asks a leaf for. */
  readonly newKeySignature: Uint8Array;
}

/** ShareSeed request: a Coordinator replica in recovery asks a ready peer for seed and salt. */
export interface ShareSeedRequest {
  /** Evidence whose report data is `shareSeedReportData(publicKey, nonce, serving Coordinator's TLS key)`. */
  readonly evidence?: EvidenceMessage;
  /** The requester's ephemeral ECDH P-256 key, SPKI DER. */
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
}

// ---- responses ------------------------------------------------------------------------------------------------

export type RecoverResponse = Record<string, never>;

export interface GetNonceResponse {
  readonly nonce: Uint8Array;
}

/** Attest response (both APIs). */
export interface AttestResponse {
  readonly evidence: EvidenceMessage | null;
  /** Hex pin of the mesh owner bound into the evidence; '' when the Coordinator serves none (fresh, recovery). */
  readonly meshOwner: string;
}

/** One RSA-OAEP-encrypted copy of seed and salt for a seed-share owner (returned by the first SetManifest). */
export interface SeedShareMessage {
  /** The owner's RSA public key, hex SPKI DER (as in the manifest). */
  readonly ownerKey: string;
  readonly encryptedSeed: Uint8Array;
}

/** SetManifest response. */
export interface SetManifestResponse {
  readonly transitionHash: string;
  readonly manifestHash: string;
  readonly rootCa: string;
  readonly meshCaBundle: string;
  /** Only on the very first SetManifest; empty afterwards. */
  readonly seedShares: readonly SeedShareMessage[];
  /** The mesh owner the Coordinator serves (hex pin, `lib/protocol/mesh-owner.ts`). */
  readonly meshOwner: string;
}

/** IssueOperatorCert response. */
export interface OperatorCertResponse {
  /** The operator certificate then the mesh CA, PEM. */
  readonly certChain: string;
  readonly meshCaBundle: string;
  readonly rootCa: string;
  /** The certificate's `ccmesh-operator://` URI SAN. */
  readonly operatorId: string;
  /** Hex pin of the mesh owner the Coordinator serves. */
  readonly meshOwner: string;
}

/** GetManifests response: the whole history, oldest first. */
export interface GetManifestsResponse {
  readonly manifests: readonly Uint8Array[];
  /** SHA-256 hex → policy document. */
  readonly policies: Readonly<Record<string, Uint8Array>>;
  readonly transitions: readonly string[];
  readonly rootCa: string;
  readonly meshCaBundle: string;
  readonly state: WireCoordinatorState;
  /** Hex pin of the mesh owner ('' unless ready). */
  readonly meshOwner: string;
  /** Peer recovery in words ('' when there is nothing to say). */
  readonly recoveryStatus: string;
  /** Ready peer replicas seen in the last round of peer recovery (0 without --peers). */
  readonly readyPeers: number;
}

/** ShareSeed response: seed and salt sealed to the requester's key, and the serving Coordinator's evidence over them. */
export interface ShareSeedResponse {
  /** Report data `shareSeedAnswerReportData(publicKey, request's publicKey, sealedSeed, meshOwner, transitionHash, own TLS key)`. */
  readonly evidence: EvidenceMessage | null;
  /** The serving Coordinator's ephemeral ECDH P-256 key, SPKI DER. */
  readonly publicKey: Uint8Array;
  /** `contract/peer-seed.ts`: nonce ‖ AES-256-GCM ciphertext ‖ tag. */
  readonly sealedSeed: Uint8Array;
  /** Hex pin of the mesh owner bound into the evidence. */
  readonly meshOwner: string;
  /** The history head (transition hash, hex) the serving replica serves, bound into the evidence. */
  readonly transitionHash: string;
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

/** NewMeshCert / RenewMeshCert response. Fields marked "NewMeshCert only" are empty in a renewal's answer. */
export interface MeshCertResponse {
  /** Leaf then mesh CA, PEM. */
  readonly certChain: string;
  /** Current mesh CA first, then the previous one during a transition. */
  readonly meshCaBundle: string;
  readonly rootCa: string;
  /** The 64-byte workload secret (NewMeshCert only). */
  readonly workloadSecret?: Uint8Array;
  readonly workloadSecretId?: string;
  /**
   * Pinned config files of the pod's policy (NewMeshCert only): absolute mount path → relative file → SHA-256 hex.
   * The initializer refuses to write any secret unless the mounted files match exactly.
   */
  readonly configDigests?: Readonly<Record<string, { readonly files: Readonly<Record<string, string>> }>>;
  /** Hex pin of the mesh owner the Coordinator serves (NewMeshCert only); the initializer compares it with its pin. */
  readonly meshOwner?: string;
}

// ---- the services ---------------------------------------------------------------------------------------------

/** One RPC's request and response types. */
export interface Rpc<Req, Res> {
  readonly request: Req;
  readonly response: Res;
}

/** UserAPI (port 1313). */
export interface UserApiMethods {
  GetNonce: Rpc<GetNonceRequest, GetNonceResponse>;
  Attest: Rpc<AttestRequest, AttestResponse>;
  SetManifest: Rpc<SetManifestRequest, SetManifestResponse>;
  GetManifests: Rpc<GetManifestsRequest, GetManifestsResponse>;
  Recover: Rpc<RecoverRequest, RecoverResponse>;
  IssueOperatorCert: Rpc<OperatorCertRequest, OperatorCertResponse>;
}

/** MeshAPI (port 7777). */
export interface MeshApiMethods {
  GetNonce: Rpc<GetNonceRequest, GetNonceResponse>;
  Attest: Rpc<AttestRequest, AttestResponse>;
  NewMeshCert: Rpc<NewMeshCertRequest, MeshCertResponse>;
  RenewMeshCert: Rpc<RenewMeshCertRequest, MeshCertResponse>;
  GetTrustBundle: Rpc<GetTrustBundleRequest, TrustBundleResponse>;
  ShareSeed: Rpc<ShareSeedRequest, ShareSeedResponse>;
}

/** The short name ("fresh", "recovery", "ready") of a wire state; "unknown" for a value this version doesn't know. */
export function coordinatorStateName(state: string): keyof typeof COORDINATOR_STATE | 'unknown' {
  const found = (Object.keys(COORDINATOR_STATE) as (keyof typeof COORDINATOR_STATE)[]).find((k) => COORDINATOR_STATE[k] === state);
  return found ?? 'unknown';
}
