/**
 * What a Coordinator replica is, read from its own evidence: the launch measurement, the policy hash (SNP HOST_DATA,
 * TDX MRCONFIGID[0:32]) and, for simulated SNP, the root its platform chains to. A replica in peer recovery trusts a
 * peer only if the peer's verified evidence names the same identity: the peer runs the same code under the same
 * policy, so it hands out only a seed it holds legitimately (set, recovered by the owner, or from such a peer).
 *
 * The identity is read from evidence the replica's own platform just produced (no signature check is needed for that:
 * nobody but the platform wrote it). TDX: the measurement is MRTD with RTMR0–2 (firmware, kernel, command line); RTMR3
 * is extended at run time and left out. Neither is checked against hardware here (no TDX machine): see
 * docs/limitations.md.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { Evidence } from '../../attestation/issuers/evidence.js';
import { parseSnpReport } from '../../attestation/snp/report.js';
import { parseTdxQuote } from '../../attestation/tdx/quote.js';
import { toHex } from '../../lib/bytes.js';
import type { WireEvidence } from '../../lib/protocol/messages.js';

/** A replica's identity as its evidence states it (hex strings, comparable with ===). */
export interface ReplicaIdentity {
  readonly format: 'snp' | 'tdx';
  /** SNP MEASUREMENT, or TDX MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2. */
  readonly measurement: string;
  /** SNP HOST_DATA, or TDX MRCONFIGID[0:32]: the policy hash the manifest maps to a role. */
  readonly policyHash: string;
  /** SNP only: SHA-256 of the ARK the evidence chains to (a simulated root must be the requester's own). */
  readonly arkSha256?: string;
}

/** The identity stated by evidence from the issuer (the replica's own, with the certificates its platform gave). */
export function identityOfOwn(ev: Evidence): ReplicaIdentity {
  if (ev.format === 'tdx') return tdxIdentity(ev.quote);
  return { ...snpIdentity(ev.report), ...(ev.certificates.ark ? { arkSha256: sha256hex(ev.certificates.ark) } : {}) };
}

/**
 * The identity stated by a peer's evidence that verified under `anchorArk` — the root certificate of the trust anchor
 * the verifier used (for a simulated root, the manifest's ARK; undefined for the vendors' roots). SECURITY: never a
 * certificate read out of the chain bytes: the verifier reads them as DER when no PEM starts in the first 4 KiB and
 * ignores what follows the first certificate, so a host could append this replica's own ARK as PEM behind a chain
 * that verifies under its own root.
 */
export function identityOfWire(ev: WireEvidence, anchorArk: X509Certificate | undefined): ReplicaIdentity {
  if (ev.format === 'tdx') return tdxIdentity(ev.quote);
  return { ...snpIdentity(ev.report), ...(anchorArk ? { arkSha256: sha256hex(anchorArk.raw) } : {}) };
}

/**
 * Where two identities differ, in words ([] when they are the same replica kind). `sameRoot`: the roots must be the
 * same too — needed for simulated evidence, whose root a manifest names (the host's store could name its own); real
 * AMD and Intel evidence verified under the pinned vendor roots, whatever CPU generation's ARK it chains to.
 */
export function identityDifferences(own: ReplicaIdentity, peer: ReplicaIdentity, sameRoot: boolean): string[] {
  const out: string[] = [];
  if (peer.format !== own.format) out.push(`the peer's evidence is ${peer.format}, this replica's is ${own.format}`);
  if (peer.measurement !== own.measurement) out.push(`the peer's launch measurement ${peer.measurement} is not this replica's ${own.measurement}`);
  if (peer.policyHash !== own.policyHash) out.push(`the peer runs policy ${peer.policyHash}, not this replica's ${own.policyHash}`);
  if (sameRoot && peer.arkSha256 !== own.arkSha256) out.push(`the peer's evidence chains to root ${peer.arkSha256 ?? '(none)'}, not this replica's ${own.arkSha256 ?? '(none)'}`);
  return out;
}

function snpIdentity(report: Uint8Array): ReplicaIdentity {
  const r = parseSnpReport(report);
  return { format: 'snp', measurement: toHex(r.measurement), policyHash: toHex(r.hostData) };
}

function tdxIdentity(quote: Uint8Array): ReplicaIdentity {
  const b = parseTdxQuote(quote).body;
  return { format: 'tdx', measurement: [b.mrTd, b.rtmr[0], b.rtmr[1], b.rtmr[2]].map(toHex).join(''), policyHash: toHex(b.mrConfigId.subarray(0, 32)) };
}

function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
