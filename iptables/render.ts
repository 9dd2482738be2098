/**
 * Plan → `iptables-restore --noflush` text. Pure: the caller passes what the kernel holds now (how many of our jumps
 * each built-in chain has, which of our chains exist), read from iptables-save just before.
 *
 * Why that input is needed: restore text can't say "insert this jump unless it is there". Declaring our chains
 * (`:CCMESH_X - [0:0]`) flushes and recreates only those chains, but a jump in a built-in chain (`-I PREROUTING 1 -j
 * CCMESH_PREROUTING`) would be added again on every apply. So the text first deletes every existing copy of each
 * jump (`-D`, once per copy seen) and then inserts exactly one at position 1 — which also moves a jump that someone
 * pushed down the chain back to the front. All of it is one COMMIT per table: the kernel sees the old rules or the
 * new ones, never a half-built chain. No other chain is flushed, ever.
 */
import type { Family, Plan, TablePlan } from './plan.js';

/** What the kernel holds now, per table: copies of each jump (`PREROUTING>CCMESH_PREROUTING` → n) and our chains. */
export interface PresentState {
  readonly jumps: ReadonlyMap<string, number>;
  readonly chains: ReadonlySet<string>;
}

/** Present state of a kernel without any of our rules (for `plan` output and golden files). */
export const NOTHING_PRESENT: ReadonlyMap<string, PresentState> = new Map();

/** Key of a jump in {@link PresentState.jumps}. */
export function jumpKey(from: string, to: string): string {
  return `${from}>${to}`;
}

/** The rule text of a plan rule, as written and as iptables-save prints it. */
export function ruleLine(chain: string, spec: readonly string[]): string {
  return `-A ${chain} ${spec.join(' ')}`;
}

/** Restore text that (re)installs `tables`; `present` maps table name → what is there now. */
export function renderTables(tables: readonly TablePlan[], present: ReadonlyMap<string, PresentState> = NOTHING_PRESENT): string {
  const out: string[] = [];
  for (const t of tables) {
    const now = present.get(t.table);
    out.push(`*${t.table}`);
    for (const c of t.chains) out.push(`:${c} - [0:0]`);
    for (const j of t.jumps) {
      const n = now?.jumps.get(jumpKey(j.from, j.to)) ?? 0;
      for (let i = 0; i < n; i++) out.push(`-D ${j.from} -j ${j.to}`);
    }
    for (const r of t.rules) out.push(ruleLine(r.chain, r.spec));
    // Inserted last-to-first at position 1, so the first listed jump ends up first in its chain.
    for (const j of [...t.jumps].reverse()) out.push(`-I ${j.from} 1 -j ${j.to}`);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** Restore text that installs `family`'s part of `plan` into a kernel in state `present`. */
export function renderRestore(plan: Plan, family: Family, present: ReadonlyMap<string, PresentState> = NOTHING_PRESENT): string {
  return renderTables(plan[family].tables, present);
}

/**
 * Restore text that removes our jumps and chains from `tables`, or undefined when nothing of them is present.
 * Every chain is flushed before any is deleted, because our chains jump to each other.
 */
export function renderCleanup(tables: readonly TablePlan[], present: ReadonlyMap<string, PresentState>): string | undefined {
  const out: string[] = [];
  for (const t of tables) {
    const now = present.get(t.table);
    if (!now) continue;
    const lines: string[] = [];
    for (const j of t.jumps) {
      const n = now.jumps.get(jumpKey(j.from, j.to)) ?? 0;
      for (let i = 0; i < n; i++) lines.push(`-D ${j.from} -j ${j.to}`);
    }
    const chains = t.chains.filter((c) => now.chains.has(c));
    for (const c of chains) lines.push(`-F ${c}`);
    for (const c of chains) lines.push(`-X ${c}`);
    if (lines.length > 0) out.push(`*${t.table}`, ...lines, 'COMMIT');
  }
  return out.length > 0 ? out.join('\n') + '\n' : undefined;
}
