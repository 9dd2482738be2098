/**
 * Judging a peer's evidence against the manifest: is it genuine (vendor roots, or a simulated root the manifest
 * names), does it bind what the protocol says it must bind, does it meet one of the manifest's reference-value
 * alternatives, and which policy entry does its HOST_DATA / MRCONFIGID name. The outcome is data; the caller maps
 * a failure to a gRPC status exactly once.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { createSnpVerifier, type SnpVerifier } from '../../attestation/snp/verify.js';
import { checkSnpReference } from '../../attestation/snp/reference.js';
import { checkTcbEvaluated, checkTcbStatuses, checkTdxMeasurements, type TdxReferenceValues } from '../../attestation/tdx/reference.js';
import { DEFAULT_ACCEPTABLE_TCB_STATUSES, TCB_STATUSES } from '../../attestation/tdx/tcb-status.js';
import { createTdxVerifier } from '../../attestation/tdx/verify.js';
import type { PolicyHash } from '../../lib/brand.js';
import { bytesEqual } from '../../lib/bytes.js';
import type { WireEvidence } from '../../lib/protocol/messages.js';
import type { Manifest, PolicyEntry } from '../manifest/types.js';
import type { AttestationFailure } from './failure.js';
import type { TdxCollateralLookup, TdxCollateralProvider } from './tdx-collateral.js';

/** An attested peer: which policy it runs and what its evidence said. */
export interface AttestedPeer {
  readonly policyHash: PolicyHash;
  readonly policy: PolicyEntry;
  readonly format: 'snp' | 'tdx';
  /** Which trust anchor accepted the evidence: "amd", "intel" or "simulated:<name>". */
  readonly anchor: string;
  /** TDX only: the platform's TCB status as evaluated with collateral ("not_evaluated" without). */
  readonly tcbStatus?: string;
}

/** Outcome of {@link EvidenceChecker.check}. */
export type EvidenceVerdict = { ok: true; peer: AttestedPeer } | { ok: false; failure: AttestationFailure; reasons: readonly string[] };

const NO_TDX: EvidenceVerdict = Object.freeze({ ok: false, failure: 'evidence', reasons: Object.freeze(['the manifest trusts no TDX evidence (referenceValues.tdx is empty)']) });

/** Options of {@link EvidenceChecker}. */
export interface EvidenceCheckerOptions {
  /**
   * Where TDX collateral comes from. Without it every quote's TCB status is "not_evaluated", which only an
   * alternative with `allowUnevaluatedTcb` accepts.
   */
  readonly tdxCollateral?: TdxCollateralProvider;
}

/** Verifies evidence for the Coordinator; keeps one caching verifier per trust anchor. */
export class EvidenceChecker {
  readonly #amd: SnpVerifier = createSnpVerifier();
  readonly #simulated = new Map<string, SnpVerifier>();
  readonly #tdx = createTdxVerifier();
  readonly #tdxCollateral: TdxCollateralProvider | undefined;

  constructor(opts: EvidenceCheckerOptions = {}) {
    this.#tdxCollateral = opts.tdxCollateral;
  }

  /** {@link check} after obtaining the TDX collateral for `evidence` from the configured provider. */
  async checkWithCollateral(manifest: Manifest, evidence: WireEvidence, expectedReportData: Uint8Array, at: Date): Promise<EvidenceVerdict> {
    if (evidence.format !== 'tdx' || !this.#tdxCollateral) return this.check(manifest, evidence, expectedReportData, at);
    // SECURITY: collateral may be fetched over the network, and anyone can send a quote. Only a quote the manifest
    // could accept at all and that is genuine (quote, QE and PCK chain up to the pinned Intel root, so its FMSPC is
    // Intel's, not the caller's choice) gets a lookup; the rest is refused here without one.
    if (manifest.referenceValues.tdx.length === 0) return NO_TDX;
    const genuine = this.#tdx.verify({ quote: evidence.quote, at, acceptableTcbStatuses: TCB_STATUSES });
    if (!genuine.ok) return { ok: false, failure: 'evidence', reasons: genuine.reasons };
    return this.check(manifest, evidence, expectedReportData, at, await this.#tdxCollateral.collateralFor(evidence.quote));
  }

  /**
   * Checks `evidence` against `manifest`, requiring its report data to equal `expectedReportData`. TDX collateral
   * comes from `tdxCollateral` (what {@link checkWithCollateral} looked up); without it the TCB is not evaluated.
   */
  check(manifest: Manifest, evidence: WireEvidence, expectedReportData: Uint8Array, at: Date, tdxCollateral?: TdxCollateralLookup): EvidenceVerdict {
    if (evidence.format === 'tdx') {
      // A provider is configured but nobody asked it: a caller bug, refused rather than judged without collateral.
      if (this.#tdxCollateral && !tdxCollateral) return { ok: false, failure: 'evidence', reasons: ['TDX collateral was not looked up for this quote'] };
      return this.#checkTdx(manifest, evidence.quote, expectedReportData, at, tdxCollateral ?? { problems: [] });
    }
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

  #checkTdx(manifest: Manifest, quote: Uint8Array, expected: Uint8Array, at: Date, lookup: TdxCollateralLookup): EvidenceVerdict {
    if (manifest.referenceValues.tdx.length === 0) return NO_TDX;
    if (lookup.problems.length > 0) return { ok: false, failure: 'evidence', reasons: lookup.problems.map((p) => `TDX collateral: ${p}`) };
    // Every status is acceptable to the verifier itself (it still refuses "no matching TCB level" and every
    // signature, chain, CRL and freshness problem); which statuses pass is each alternative's decision below.
    const r = this.#tdx.verify({ quote, at, acceptableTcbStatuses: TCB_STATUSES, ...(lookup.collateral ? { collateral: lookup.collateral } : {}) });
    if (!r.ok || !r.claims) return { ok: false, failure: 'evidence', reasons: r.reasons };
    const claims = r.claims;
    if (!bytesEqual(Buffer.from(claims.report_data, 'hex'), expected)) {
      return { ok: false, failure: 'binding', reasons: ['REPORTDATA does not bind this request (wrong key, nonce or Coordinator, or replayed evidence)'] };
    }
    const judge = (alt: TdxReferenceValues): string[] => [
      ...checkTdxMeasurements(claims, alt),
      ...checkTcbStatuses(claims, alt.acceptableTcbStatuses ?? DEFAULT_ACCEPTABLE_TCB_STATUSES),
      // SECURITY: without collateral an OutOfDate or Revoked platform would pass on signatures alone.
      ...checkTcbEvaluated(claims, alt),
    ];
    const refReasons = manifest.referenceValues.tdx.map(judge);
    if (!refReasons.some((rs) => rs.length === 0)) {
      return { ok: false, failure: 'reference', reasons: refReasons.length === 1 ? refReasons[0]! : refReasons.map((rs, i) => `alternative ${i + 1}: ${rs.join('; ')}`) };
    }
    // The policy hash of a TD is the first 32 bytes of MRCONFIGID (docs/design.md §3).
    const verdict = this.#policy(manifest, claims.mr_config_id.slice(0, 64), 'tdx', 'intel');
    return verdict.ok ? { ok: true, peer: { ...verdict.peer, tcbStatus: claims.tcb_status } } : verdict;
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

