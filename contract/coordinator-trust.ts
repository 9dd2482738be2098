/**
 * What a pod trusts as its Coordinator before it sends evidence: a manifest of one policy, built from the pod's
 * pinned args (`ccmesh initializer --coordinator-policy --coordinator-measurement`) and checked with the same
 * evidence check `ccmesh set` uses.
 */
import { buildManifestDocument } from './manifest/document.js';
import { parseManifestValue } from './manifest/parse.js';
import type { Manifest } from './manifest/types.js';

/**
 * The Coordinator as the pod's args pin it: a manifest of one policy (the Coordinator's, role `coordinator`) whose
 * reference values accept genuine SEV-SNP evidence with one of `measurements` as MEASUREMENT, or genuine TDX
 * evidence with one of them as MRTD, under the restrictive defaults (no debug, no migration agent) — or a simulated
 * platform under `rootPem` (same measurements) when given. `'any'` accepts every image (allowUnmeasured).
 */
export function coordinatorTrustManifest(policyHash: string, measurements: readonly string[] | 'any', rootPem: string | undefined): Manifest {
  const any = measurements === 'any';
  const snp = any ? { allowUnmeasured: true } : { measurements: [...measurements] };
  return parseManifestValue(buildManifestDocument({
    workloadOwnerKeys: [],
    seedshareOwnerKeys: [],
    snp: [snp],
    // SECURITY: a pod has no TDX collateral, so the Coordinator's TCB status is not evaluated here; signatures,
    // PCK chain, MRTD and MRCONFIGID are. The operator judges the Coordinator's TCB (`ccmesh verify --tdx-collateral`).
    tdx: [{ ...(any ? { allowUnmeasured: true } : { mrTd: [...measurements] }), allowUnevaluatedTcb: true }],
    ...(rootPem !== undefined ? { simulatedArkPem: rootPem, simulatedSnp: snp } : {}),
    policies: [{ policyHash, role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' }],
  }));
}
