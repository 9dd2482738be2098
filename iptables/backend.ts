/**
 * Which iptables backend this host uses, and the save/restore binaries that go with it. Mixing them is a classic
 * failure: rules written with iptables-nft are invisible to iptables-legacy-save and vice versa, so verify would
 * read an empty table. `iptables --version` names the backend ("(nf_tables)" or "(legacy)"; older builds print
 * neither and are legacy); the matching `-nft-`/`-legacy-` binaries are preferred, the generic names are the
 * fallback on distributions that ship only one.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import type { Executor } from './executor.js';
import type { Family } from './plan.js';

/** The netfilter backend of the iptables tools. */
export type Backend = 'nf_tables' | 'legacy';

/** The save and restore commands of one family. */
export interface IptablesTools {
  readonly family: Family;
  readonly backend: Backend;
  readonly save: string;
  readonly restore: string;
}

/** Parses `iptables --version` output; undefined when it is not iptables'. */
export function parseBackend(versionOutput: string): Backend | undefined {
  if (!/^ip6?tables(-\w+)? v\d/m.test(versionOutput)) return undefined;
  return /\(nf_tables\)/.test(versionOutput) ? 'nf_tables' : 'legacy';
}

/** Finds the tools for `family`; undefined when the family's iptables is not installed or can't work here. */
export async function detectTools(exec: Executor, family: Family): Promise<IptablesTools | undefined> {
  const base = family === 'v4' ? 'iptables' : 'ip6tables';
  const version = await exec.run(base, ['--version']);
  if (version.code !== 0) return undefined;
  const backend = parseBackend(version.stdout + version.stderr);
  if (!backend) return undefined;
  const infix = backend === 'nf_tables' ? 'nft' : 'legacy';
  const pick = async (verb: 'save' | 'restore'): Promise<string> => {
    const specific = `${base}-${infix}-${verb}`;
    const probe = await exec.run(specific, ['--version']);
    return probe.code === 0 ? specific : `${base}-${verb}`;
  };
  const tools: IptablesTools = { family, backend, save: await pick('save'), restore: await pick('restore') };
  // Installed is not usable: without the kernel's IPv6 netfilter support ip6tables-save fails.
  const check = await exec.run(tools.save, ['-t', 'filter']);
  return check.code === 0 ? tools : undefined;
}

/** Like {@link detectTools}, but a missing tool is an IPTABLES_UNAVAILABLE error. */
export async function requireTools(exec: Executor, family: Family): Promise<IptablesTools> {
  const tools = await detectTools(exec, family);
  if (!tools) {
    const name = family === 'v4' ? 'iptables' : 'ip6tables';
    throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, `${name} is not usable here (not installed, or the kernel lacks its netfilter support)`);
  }
  return tools;
}

/** Reads one table through `tools`; throws IPTABLES_APPLY when the save fails. */
export async function saveTable(exec: Executor, tools: IptablesTools, table: string): Promise<string> {
  const r = await exec.run(tools.save, ['-t', table]);
  if (r.code !== 0) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `reading the ${table} table with ${tools.save} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Feeds restore text to `tools.restore --noflush`; throws IPTABLES_APPLY with its stderr on failure. */
export async function restore(exec: Executor, tools: IptablesTools, text: string, what: string): Promise<void> {
  const r = await exec.run(tools.restore, ['--noflush', '--wait', '5'], text);
  if (r.code !== 0) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `${what} with ${tools.restore} failed (exit ${r.code}): ${r.stderr.trim()}`);
}
