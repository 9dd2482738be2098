/**
 * One name, one workload: a SAN claimed by policy entries of two different workloads (different
 * `workloadSecretId`) would let either one answer for the other — a peer or an egress entry that pins the name
 * (`db.shop.svc`) accepts whichever leaf the host routes it to. Entries of the *same* workload (two policy hashes
 * during a rollout) may share names. A wildcard (`*.hs.ns.svc`) claims every one-label name under it, so it
 * conflicts with another workload's exact name or equal wildcard there.
 */
import type { ConfigIssue } from '../../lib/errors.js';

/** The part of a policy entry this check reads. */
export interface SanClaim {
  readonly policyHash: string;
  readonly sans: readonly string[];
  readonly workloadSecretId: string;
}

/** Issues for every SAN that two workloads claim, naming the field of the later entry and the earlier claimant. */
export function checkSanClaims(entries: readonly SanClaim[], field = 'policies'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Lowercase name → the first entry claiming it; wildcards are kept by their suffix (`*.a.b` → `.a.b`).
  const exact = new Map<string, SanClaim>();
  const wildcard = new Map<string, SanClaim>();
  const conflict = (e: SanClaim, i: number, san: string, other: SanClaim): void => {
    issues.push({
      field: `${field}.${e.policyHash}.sans[${i}]`,
      value: san,
      expected: `a name no other workload claims (${san} is also claimed by policy ${other.policyHash}, workload "${other.workloadSecretId}")`,
    });
  };
  for (const e of entries) {
    e.sans.forEach((raw, i) => {
      const san = raw.toLowerCase();
      if (san.startsWith('*.')) {
        const suffix = san.slice(1);
        const other = wildcard.get(suffix) ?? [...exact.entries()].find(([n]) => oneLabelUnder(n, suffix))?.[1];
        if (other && other.workloadSecretId !== e.workloadSecretId) conflict(e, i, raw, other);
        if (!wildcard.has(suffix)) wildcard.set(suffix, e);
        return;
      }
      const dot = san.indexOf('.');
      const other = exact.get(san) ?? (dot > 0 ? wildcard.get(san.slice(dot)) : undefined);
      if (other && other.workloadSecretId !== e.workloadSecretId) conflict(e, i, raw, other);
      if (!exact.has(san)) exact.set(san, e);
    });
  }
  return issues;
}

/** True when `name` is exactly one label followed by `suffix` (`.a.b`). */
function oneLabelUnder(name: string, suffix: string): boolean {
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot) === suffix;
}
