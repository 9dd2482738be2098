/**
 * The parsed Coordinator manifest: which pods (by policy hash) get which identity, which TEE evidence is trusted,
 * who may change the manifest and who holds seed shares. Produced only by `parseManifest`, deeply frozen except
 * for the Node crypto handles it carries (KeyObject and X509Certificate break when frozen).
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { DigestHex, PolicyHash } from '../../lib/brand.js';
import type { SnpReferenceValues } from '../../attestation/snp/reference.js';
import type { TdxReferenceValues } from '../../attestation/tdx/reference.js';

/** The only manifest format version this code reads. */
export const MANIFEST_VERSION = 1;

/** Trust domain used in SPIFFE URIs when the manifest names none. */
export const DEFAULT_TRUST_DOMAIN = 'ccmesh.local';

/** Leaf certificate lifetime when the manifest names none (24 h). */
export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3_600_000;

/** What a policy entry may do beyond getting a mesh certificate: `coordinator` may also receive the seed. */
export type PolicyRole = '' | 'coordinator';

/** One workload: the identity a pod whose HOST_DATA / MRCONFIGID equals `policyHash` receives. */
export interface PolicyEntry {
  readonly policyHash: PolicyHash;
  /** DNS names (lowercase), wildcard DNS names (`*.x.y`) and IP addresses (normalised), no duplicates. */
  readonly sans: readonly string[];
  /** Input of the workload-secret derivation and the workload id in the SPIFFE URI. */
  readonly workloadSecretId: string;
  readonly role: PolicyRole;
}

/** A simulated SEV-SNP root that this manifest explicitly trusts, with the reference values for its guests. */
export interface SimulatedRoot {
  readonly name: string;
  /** The simulated ARK (self-signed, marked with SIMULATED_ORGANIZATION). Not frozen: a Node handle. */
  readonly ark: X509Certificate;
  /** The ARK re-encoded as canonical PEM (what the canonical manifest holds). */
  readonly arkPem: string;
  readonly snp: SnpReferenceValues;
}

/** Acceptable evidence: any one alternative of any list suffices (together with a known policy hash). */
export interface ManifestReferenceValues {
  readonly snp: readonly SnpReferenceValues[];
  readonly tdx: readonly TdxReferenceValues[];
  readonly simulated: readonly SimulatedRoot[];
}

/** A public key named by the manifest: its SPKI DER as lowercase hex (re-encoded by Node) and the key itself. */
export interface ManifestPublicKey {
  readonly spkiHex: string;
  /** Not frozen: a Node handle. */
  readonly key: KeyObject;
}

/** Mesh certificate settings. */
export interface MeshCertSettings {
  /** Leaf lifetime in ms, 1 h to 30 days. */
  readonly leafLifetimeMs: number;
}

/** Pinned config files of one policy: absolute mount path → relative file path → SHA-256 (null-prototype maps). */
export type ConfigDigestSet = Readonly<Record<string, Readonly<Record<string, DigestHex>>>>;

/** A parsed, validated, frozen manifest. */
export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  /** Lowercase DNS name, used as `spiffe://<trustDomain>/<workloadSecretId>`. */
  readonly trustDomain: string;
  /** Policy hash → entry (null-prototype map; keys are lowercase 64-hex). */
  readonly policies: Readonly<Record<PolicyHash, PolicyEntry>>;
  readonly referenceValues: ManifestReferenceValues;
  /** ECDSA keys allowed to replace the manifest; empty = immutable after the first set. */
  readonly workloadOwnerKeys: readonly ManifestPublicKey[];
  /** RSA (≥ 3072 bits) keys that receive an RSA-OAEP seed share on the first set. */
  readonly seedshareOwnerKeys: readonly ManifestPublicKey[];
  readonly meshCert: MeshCertSettings;
  /** Policy hash → pinned config files (null-prototype map; only hashes present in `policies`). */
  readonly configDigests: Readonly<Record<PolicyHash, ConfigDigestSet>>;
}

/** The JSON document shape (what users write, what `buildManifestDocument` builds and what the canonical form holds). */
export interface ManifestDocument {
  version: number;
  trustDomain?: string;
  policies: Record<string, { sans: string[]; workloadSecretId: string; role: string }>;
  referenceValues: {
    snp: unknown[];
    tdx: unknown[];
    simulated?: { name: string; ark: string; snp: unknown }[];
  };
  workloadOwnerKeys: string[];
  seedshareOwnerKeys: string[];
  meshCert?: { leafLifetime: string };
  configDigests?: Record<string, Record<string, Record<string, string>>>;
}
