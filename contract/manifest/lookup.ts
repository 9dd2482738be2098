/**
 * The questions the Coordinator asks of a manifest on its request paths. Lookups are by exact lowercase key in the
 * manifest's null-prototype maps; inputs in another case are normalised, anything that is not 64 hex finds nothing.
 */
import type { KeyObject } from 'node:crypto';
import type { PolicyHash } from '../../lib/brand.js';
import { toHex } from '../../lib/bytes.js';
import { parsePublicKey } from '../../lib/pki/key-details.js';
import type { SnpReferenceValues } from '../../attestation/snp/reference.js';
import type { TdxReferenceValues } from '../../attestation/tdx/reference.js';
import type { ConfigDigestSet, Manifest, ManifestPublicKey, PolicyEntry, SimulatedRoot } from './types.js';

const HASH_RE = /^[0-9a-f]{64}$/;

function normaliseHash(hex: string): PolicyHash | undefined {
  const h = hex.toLowerCase();
  return HASH_RE.test(h) ? (h as PolicyHash) : undefined;
}

/** The policy entry for a pod's HOST_DATA / MRCONFIGID[0:32] (hex, any case), or undefined when not in the manifest. */
export function policyFor(manifest: Manifest, hostDataHex: string): PolicyEntry | undefined {
  const h = normaliseHash(hostDataHex);
  return h !== undefined && Object.hasOwn(manifest.policies, h) ? manifest.policies[h] : undefined;
}

/** Every policy entry with role `coordinator` (peers that may receive the seed), in key order. */
export function coordinatorPolicies(manifest: Manifest): readonly PolicyEntry[] {
  return Object.values(manifest.policies).filter((p) => p.role === 'coordinator').sort((a, b) => (a.policyHash < b.policyHash ? -1 : 1));
}

/** The SNP reference-value alternatives (any of) for genuine AMD evidence. */
export function snpAlternatives(manifest: Manifest): readonly SnpReferenceValues[] {
  return manifest.referenceValues.snp;
}

/** The TDX reference-value alternatives (any of). */
export function tdxAlternatives(manifest: Manifest): readonly TdxReferenceValues[] {
  return manifest.referenceValues.tdx;
}

/** The simulated roots this manifest trusts (empty: simulated evidence is refused). */
export function simulatedRoots(manifest: Manifest): readonly SimulatedRoot[] {
  return manifest.referenceValues.simulated;
}

/**
 * Every launch measurement the reference values accept (SEV-SNP MEASUREMENT, TDX MRTD, simulated), lowercase, once
 * each: what pods pin for the Coordinator, which runs on the pods' VM image (`generate`, `install --workspace`).
 */
export function launchMeasurements(manifest: Manifest): string[] {
  const rv = manifest.referenceValues;
  const all = [...rv.snp.flatMap((a) => a.measurements ?? []), ...rv.tdx.flatMap((a) => a.mrTd ?? []), ...rv.simulated.flatMap((s) => s.snp.measurements ?? [])];
  return [...new Set(all.map((m) => m.toLowerCase()))];
}

/** Lifetime of issued leaf certificates, in ms. */
export function leafLifetimeMs(manifest: Manifest): number {
  return manifest.meshCert.leafLifetimeMs;
}

/** Pinned config files of `policyHash` (any case); an empty set when none are pinned. */
export function configDigestsFor(manifest: Manifest, policyHash: string): ConfigDigestSet {
  const h = normaliseHash(policyHash);
  const set = h !== undefined && Object.hasOwn(manifest.configDigests, h) ? manifest.configDigests[h] : undefined;
  return set ?? Object.freeze(Object.create(null) as ConfigDigestSet);
}

/** True when the manifest names no workload owner: it can be set once and never replaced. */
export function isImmutable(manifest: Manifest): boolean {
  return manifest.workloadOwnerKeys.length === 0;
}

function findKey(keys: readonly ManifestPublicKey[], key: KeyObject | Uint8Array): ManifestPublicKey | undefined {
  let spkiHex: string;
  try {
    const k = key instanceof Uint8Array ? parsePublicKey(key).key : key;
    spkiHex = toHex(new Uint8Array(k.export({ type: 'spki', format: 'der' })));
  } catch {
    return undefined; // not a readable public key: certainly not one of ours
  }
  return keys.find((k) => k.spkiHex === spkiHex);
}

/** The workload-owner key equal to `key` (KeyObject or SPKI DER), or undefined when it is not a workload owner. */
export function workloadOwnerKeyFor(manifest: Manifest, key: KeyObject | Uint8Array): ManifestPublicKey | undefined {
  return findKey(manifest.workloadOwnerKeys, key);
}

/** The seed-share-owner key equal to `key` (KeyObject or SPKI DER), or undefined when it is not a seed-share owner. */
export function seedshareOwnerKeyFor(manifest: Manifest, key: KeyObject | Uint8Array): ManifestPublicKey | undefined {
  return findKey(manifest.seedshareOwnerKeys, key);
}
