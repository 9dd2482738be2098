/**
 * Judging a peer's evidence against the manifest: is it genuine (vendor roots, or a simulated root the manifest
 * names), does it bind what the protocol says it must bind, does it meet one of the manifest's reference-value
 * alternatives, and which policy entry does its HOST_DATA / MRCONFIGID name. The outcome is data; the caller maps
 * a failure to a gRPC status exactly once.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { createSnpVerifier, type SnpVerifier } from '../../attestation/snp/verify.js';
import { checkSnpReference } from '../../attestation/snp/reference.js';
import { checkTdxReference } from '../../attestation/tdx/reference.js';
import { createTdxVerifier } from '../../attestation/tdx/verify.js';
import type { PolicyHash } from '../../lib/brand.js';
import { bytesEqual } from '../../lib/bytes.js';
import type { WireEvidence } from '../../lib/protocol/messages.js';
import type { Manifest, PolicyEntry } from '../manifest/types.js';
import type { AttestationFailure } from '../metrics.js';

/** An attested peer: which policy it runs and what its evidence said. */
export interface AttestedPeer {
  readonly policyHash: PolicyHash;
  readonly policy: PolicyEntry;
  readonly format: 'snp' | 'tdx';
  /** Which trust anchor accepted the evidence: "amd", "intel" or "simulated:<name>". */
  readonly anchor: string;
}

/** Outcome of {@link EvidenceChecker.check}. */
export type EvidenceVerdict = { ok: true; peer: AttestedPeer } | { ok: false; failure: AttestationFailure; reasons: readonly string[] };

/** Verifies evidence for the Coordinator; keeps one caching verifier per trust anchor. */
export class EvidenceChecker {
  readonly #amd: SnpVerifier = createSnpVerifier();
  readonly #simulated = new Map<string, SnpVerifier>();
  readonly #tdx = createTdxVerifier();

  /** Checks `evidence` against `manifest`, requiring its report data to equal `expectedReportData`. */
  check(manifest: Manifest, evidence: WireEvidence, expectedReportData: Uint8Array, at: Date): EvidenceVerdict {
    if (evidence.format === 'tdx') return this.#checkTdx(manifest, evidence.quote, expectedReportData, at);
    const input = { report: evidence.report, vek: evidence.vek, chain: evidence.chain, at };
    const candidates: { anchor: string; verify: () => ReturnType<SnpVerifier['verify']>; alternatives: readonly Parameters<typeof checkSnpReference>[1][] }[] = [];
    if (manifest.referenceValues.snp.length > 0) candidates.push({ anchor: 'amd', verify: () => this.#amd.verify(input), alternatives: manifest.referenceValues.snp });
    for (const root of manifest.referenceValues.simulated) {
      // SECURITY: a simulated root is an anchor only because this manifest names it, and only for its own values.
      candidates.push({ anchor: `simulated:${root.name}`, verify: () => this.#simulatedVerifier(root.ark).verify(input), alternatives: [root.snp] });
    }
    if (candidates.length === 0) return { ok: false, failure: 'evidence', reasons: ['the manifest trusts no SEV-SNP evidence (referenceValues.snp and .simulated are empty)'] };
    let firstReasons: readonly string[] = [];
    for (const c of candidates) {
      const r = c.verify();
      if (!r.ok || !r.claims) {
        if (firstReasons.length === 0) firstReasons = r.reasons;
        continue;
      }
      const claims = r.claims;
      if (!bytesEqual(Buffer.from(claims.report_data, 'hex'), expectedReportData)) {
        return { ok: false, failure: 'binding', reasons: ['REPORT_DATA does not bind this request (wrong key, nonce or Coordinator, or replayed evidence)'] };
      }
      const refReasons = c.alternatives.map((alt) => checkSnpReference(claims, alt));
      if (!refReasons.some((rs) => rs.length === 0)) {
        return { ok: false, failure: 'reference', reasons: refReasons.length === 1 ? refReasons[0]! : refReasons.map((rs, i) => `alternative ${i + 1}: ${rs.join('; ')}`) };
      }
      return this.#policy(manifest, claims.host_data, 'snp', c.anchor);
    }
    return { ok: false, failure: 'evidence', reasons: firstReasons };
  }

  #checkTdx(manifest: Manifest, quote: Uint8Array, expected: Uint8Array, at: Date): EvidenceVerdict {
    if (manifest.referenceValues.tdx.length === 0) return { ok: false, failure: 'evidence', reasons: ['the manifest trusts no TDX evidence (referenceValues.tdx is empty)'] };
    const r = this.#tdx.verify({ quote, at });
    if (!r.ok || !r.claims) return { ok: false, failure: 'evidence', reasons: r.reasons };
    const claims = r.claims;
    if (!bytesEqual(Buffer.from(claims.report_data, 'hex'), expected)) {
      return { ok: false, failure: 'binding', reasons: ['REPORTDATA does not bind this request (wrong key, nonce or Coordinator, or replayed evidence)'] };
    }
    const refReasons = manifest.referenceValues.tdx.map((alt) => checkTdxReference(claims, alt));
    if (!refReasons.some((rs) => rs.length === 0)) return { ok: false, failure: 'reference', reasons: refReasons.flat() };
    // The policy hash of a TD is the first 32 bytes of MRCONFIGID (DESIGN §3).
    return this.#policy(manifest, claims.mr_config_id.slice(0, 64), 'tdx', 'intel');
  }

  #policy(manifest: Manifest, hash: string, format: 'snp' | 'tdx', anchor: string): EvidenceVerdict {
    const policy = Object.hasOwn(manifest.policies, hash) ? manifest.policies[hash as PolicyHash] : undefined;
    if (!policy) return { ok: false, failure: 'policy', reasons: [`policy hash ${hash} is not in the manifest`] };
    return { ok: true, peer: { policyHash: hash as PolicyHash, policy, format, anchor } };
  }

  #simulatedVerifier(ark: X509Certificate): SnpVerifier {
    const key = createHash('sha256').update(ark.raw).digest('hex');
    let v = this.#simulated.get(key);
    if (!v) {
      v = createSnpVerifier({ anchors: [ark] });
      this.#simulated.set(key, v);
    }
    return v;
  }
}

