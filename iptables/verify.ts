/**
 * Reads back what the kernel holds and compares it with the plan: our chains rule by rule (normalised on both sides,
 * see saved.ts), the jump into each of them as the FIRST rule of its built-in chain (a rule above it could accept
 * traffic before capture sees it), no stray CCMESH_ chains, and the policy routing. Drift is data: a
 * {@link VerifyReport}, never an exception; only a failing tool throws.
 */
import type { IptablesTools } from './backend.js';
import { saveTable } from './backend.js';
import type { Executor } from './executor.js';
import { CHAIN, CHAIN_PREFIX, type Family, type FamilyPlan, type TablePlan } from './plan.js';
import { readRouting } from './policy-routing.js';
import { normaliseSpec, parseSave, type SavedTable } from './saved.js';

/** One difference: where, and the rule text. */
export interface Difference {
  readonly family: Family;
  readonly table: string;
  readonly chain: string;
  readonly rule: string;
}

/** A rule present in both but different: the planned and the found text. */
export interface Change {
  readonly family: Family;
  readonly table: string;
  readonly chain: string;
  readonly want: string;
  readonly got: string;
}

/** The result of a verification. `ok` iff all three lists are empty. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly missing: readonly Difference[];
  readonly extra: readonly Difference[];
  readonly changed: readonly Change[];
}

/** The part of a normalised rule before its target (`-j`), for pairing a missing rule with an extra one. */
function matchPart(rule: string): string {
  const i = rule.lastIndexOf(' -j ');
  return i === -1 ? (rule.startsWith('-j ') ? '' : rule) : rule.slice(0, i);
}

/** Compares one chain's planned rules with the found ones (both normalised). */
function diffChain(family: Family, table: string, chain: string, want: readonly string[], got: readonly string[], report: Mutable): void {
  if (want.length === got.length && want.every((w, i) => w === got[i])) return;
  const remaining = [...got];
  const missing: string[] = [];
  for (const w of want) {
    const i = remaining.indexOf(w);
    if (i === -1) missing.push(w);
    else remaining.splice(i, 1);
  }
  // Same match, different target (or options of it): a changed rule rather than one missing and one extra.
  for (const m of missing) {
    const i = remaining.findIndex((g) => matchPart(g) === matchPart(m));
    if (i !== -1) {
      report.changed.push({ family, table, chain, want: `-A ${chain} ${m}`, got: `-A ${chain} ${remaining[i]!}` });
      remaining.splice(i, 1);
    } else {
      report.missing.push({ family, table, chain, rule: `-A ${chain} ${m}` });
    }
  }
  for (const g of remaining) report.extra.push({ family, table, chain, rule: `-A ${chain} ${g}` });
  if (missing.length === 0 && remaining.length === 0) {
    // Every rule is there but the order differs; order is semantics in a chain.
    report.changed.push({ family, table, chain, want: want.map((w) => `-A ${chain} ${w}`).join('\n'), got: got.map((g) => `-A ${chain} ${g}`).join('\n') });
  }
}

interface Mutable {
  missing: Difference[];
  extra: Difference[];
  changed: Change[];
}

/** Compares one parsed table with its plan (`plan` undefined = none of our chains belong in it, except `keep`). */
export function diffTable(family: Family, table: string, saved: SavedTable | undefined, plan: TablePlan | undefined, keep: ReadonlySet<string>, report: Mutable): void {
  const planned = new Map<string, string[]>();
  for (const c of plan?.chains ?? []) planned.set(c, []);
  for (const r of plan?.rules ?? []) planned.get(r.chain)?.push(normaliseSpec(r.spec));
  for (const [chain, rules] of planned) {
    const found = saved?.rules.get(chain);
    if (found === undefined) {
      report.missing.push({ family, table, chain, rule: `:${chain}` });
      for (const r of rules) report.missing.push({ family, table, chain, rule: `-A ${chain} ${r}` });
      continue;
    }
    diffChain(family, table, chain, rules, found, report);
  }
  for (const chain of saved?.chains ?? []) {
    if (chain.startsWith(CHAIN_PREFIX) && !planned.has(chain) && !keep.has(chain)) report.extra.push({ family, table, chain, rule: `:${chain}` });
  }
  // Jumps: exactly one, first in the built-in chain; any other jump into our chains is extra.
  const expected = new Set((plan?.jumps ?? []).map((j) => `${j.from}>${j.to}`));
  for (const j of plan?.jumps ?? []) {
    const rules = saved?.rules.get(j.from) ?? [];
    const want = `-j ${j.to}`;
    if (rules[0] !== want) {
      if (rules.includes(want)) report.changed.push({ family, table, chain: j.from, want: `-A ${j.from} ${want} (first rule)`, got: `at position ${rules.indexOf(want) + 1}` });
      else report.missing.push({ family, table, chain: j.from, rule: `-A ${j.from} ${want}` });
    }
  }
  for (const [chain, rules] of saved?.rules ?? []) {
    if (chain.startsWith(CHAIN_PREFIX)) continue;
    rules.forEach((r, i) => {
      const m = /-j (CCMESH_\S+)$/.exec(r);
      if (!m || keep.has(m[1]!)) return;
      const isPlanned = expected.has(`${chain}>${m[1]!}`) && r === `-j ${m[1]!}` && i === rules.indexOf(r);
      if (!isPlanned) report.extra.push({ family, table, chain, rule: `-A ${chain} ${r}` });
    });
  }
}

/** Verifies one family's tables and policy routing. */
export async function verifyFamily(exec: Executor, tools: IptablesTools, plan: FamilyPlan): Promise<VerifyReport> {
  const report: Mutable = { missing: [], extra: [], changed: [] };
  // The guard is not part of the plan: its chain lives beside ours and is checked by guard.ts.
  const keep = new Set([CHAIN.guard]);
  for (const t of plan.tables) {
    const saved = parseSave(await saveTable(exec, tools, t.table)).get(t.table);
    diffTable(plan.family, t.table, saved, t, keep, report);
  }
  const routing = await readRouting(exec, plan.family, plan.routing);
  const ruleText = `ip ${plan.family === 'v4' ? '-4' : '-6'} rule fwmark 0x${plan.routing.mark.toString(16)}/0x${plan.routing.mark.toString(16)} lookup ${plan.routing.table} priority ${plan.routing.priority}`;
  if (routing.rules === 0) report.missing.push({ family: plan.family, table: 'routing', chain: 'rule', rule: ruleText });
  for (let i = 1; i < routing.rules; i++) report.extra.push({ family: plan.family, table: 'routing', chain: 'rule', rule: ruleText });
  // SECURITY: a rule evaluated before ours can route the captured packets out of the pod (policy-routing.ts).
  for (const rule of routing.ahead) report.extra.push({ family: plan.family, table: 'routing', chain: 'rule-ahead', rule });
  if (!routing.route) report.missing.push({ family: plan.family, table: 'routing', chain: 'route', rule: `ip ${plan.family === 'v4' ? '-4' : '-6'} route local default dev lo table ${plan.routing.table}` });
  return finish(report);
}

/** Freezes a report and sets `ok`. */
export function finish(r: Mutable): VerifyReport {
  return { ok: r.missing.length + r.extra.length + r.changed.length === 0, missing: r.missing, extra: r.extra, changed: r.changed };
}

/** Merges per-family reports. */
export function mergeReports(reports: readonly VerifyReport[]): VerifyReport {
  return finish({
    missing: reports.flatMap((r) => r.missing),
    extra: reports.flatMap((r) => r.extra),
    changed: reports.flatMap((r) => r.changed),
  });
}

/** A diff for people: `- missing`, `+ extra`, `~ changed` lines grouped by family and table. */
export function formatReport(r: VerifyReport): string {
  if (r.ok) return 'rules match the plan\n';
  const lines: string[] = [];
  for (const d of r.missing) lines.push(`- [${d.family} ${d.table}] ${d.rule}`);
  for (const d of r.extra) lines.push(`+ [${d.family} ${d.table}] ${d.rule}`);
  for (const c of r.changed) lines.push(`~ [${c.family} ${c.table}] want: ${c.want.replace(/\n/g, '\n      ')}\n        got:  ${c.got.replace(/\n/g, '\n      ')}`);
  return `rules differ from the plan (- missing, + extra, ~ changed):\n${lines.join('\n')}\n`;
}
