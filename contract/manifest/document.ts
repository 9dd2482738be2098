/**
 * `buildManifestDocument`: a manifest document from a few inputs, every default written out — the skeleton
 * `ccmesh manifest init` writes, the manifest a pod checks its Coordinator against (`../coordinator-trust.ts`), and
 * the tests' manifests. It only assembles JSON; `parseManifestValue` judges it (e.g. with no ARK and no SNP/TDX
 * values it trusts nothing and is refused).
 */
import type { PolicyRole, ManifestDocument } from './types.js';
import { DEFAULT_TRUST_DOMAIN, MANIFEST_VERSION } from './types.js';

/** One policy of the document; defaults derive SANs and the workload-secret id from the hash. */
export interface DocumentPolicy {
  readonly policyHash: string;
  readonly sans?: readonly string[];
  readonly workloadSecretId?: string;
  readonly role?: PolicyRole;
}

/** Inputs of {@link buildManifestDocument}. */
export interface ManifestDocumentOptions {
  /** Hex SPKI DER of ECDSA workload-owner keys (empty: immutable manifest). */
  readonly workloadOwnerKeys: readonly string[];
  /** Hex SPKI DER of RSA (≥ 3072 bits) seed-share owner keys. */
  readonly seedshareOwnerKeys: readonly string[];
  /** PEM of a simulated ARK to trust, as simulated root "dev". */
  readonly simulatedArkPem?: string;
  /** SNP reference values for the simulated root (default `{}`: the restrictive defaults). */
  readonly simulatedSnp?: Readonly<Record<string, unknown>>;
  /** SNP / TDX reference values (JSON) for real hardware; default none. */
  readonly snp?: readonly unknown[];
  readonly tdx?: readonly unknown[];
  readonly policies?: readonly (DocumentPolicy | string)[];
  readonly trustDomain?: string;
  readonly leafLifetime?: string;
}

/** Builds a manifest document from `opts`, writing every default explicitly. */
export function buildManifestDocument(opts: ManifestDocumentOptions): ManifestDocument {
  const policies: ManifestDocument['policies'] = {};
  for (const p of opts.policies ?? []) {
    const e: DocumentPolicy = typeof p === 'string' ? { policyHash: p } : p;
    const short = e.policyHash.slice(0, 8).toLowerCase();
    policies[e.policyHash] = {
      sans: [...(e.sans ?? [`workload-${short}`])],
      workloadSecretId: e.workloadSecretId ?? `workload/${short}`,
      role: e.role ?? '',
    };
  }
  return {
    version: MANIFEST_VERSION,
    trustDomain: opts.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    policies,
    referenceValues: {
      snp: [...(opts.snp ?? [])],
      tdx: [...(opts.tdx ?? [])],
      simulated: opts.simulatedArkPem === undefined ? [] : [{ name: 'dev', ark: opts.simulatedArkPem, snp: { ...(opts.simulatedSnp ?? {}) } }],
    },
    workloadOwnerKeys: [...opts.workloadOwnerKeys],
    seedshareOwnerKeys: [...opts.seedshareOwnerKeys],
    meshCert: { leafLifetime: opts.leafLifetime ?? '24h' },
    configDigests: {},
  };
}
