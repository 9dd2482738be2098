/**
 * The revocation bound of RenewMeshCert: a leaf signs for its successor without new evidence only while the reference
 * values its evidence was judged against are still the manifest's. A leaf of the previous mesh CA whose generation had
 * other reference values must bring fresh evidence (docs/operations.md "Revocation bound").
 */
import { createHash } from 'node:crypto';
import { manifestDocument, sortedJson } from '../../contract/manifest/canonical.js';
import type { Manifest } from '../../contract/manifest/types.js';

/** SHA-256 (hex) of the canonical JSON of a manifest's `referenceValues` (the part of the canonical form). */
export function referenceValuesDigest(m: Manifest): string {
  return createHash('sha256').update(sortedJson(manifestDocument(m).referenceValues)).digest('hex');
}

/**
 * Whether leaves of the generation of `previous` need fresh evidence to renew under `current`: true when the
 * reference values differ (any alternative added, removed, reordered or changed, a simulated root included).
 */
export function renewalNeedsEvidence(previous: Manifest, current: Manifest): boolean {
  return referenceValuesDigest(previous) !== referenceValuesDigest(current);
}
