/**
 * Reading `iptables-save` output back: which chains exist in each table, their rules, and a normal form of a rule
 * that absorbs what the kernel and the two backends change in what we wrote — counters, `-m tcp` inserted after
 * `-p tcp`, `--syn` spelled as `--tcp-flags`, `/32` and `/128` masks, hex case, protocol numbers, the order of the
 * address/interface/protocol options, the order inside `--ctstate` lists.
 */
import { CHAIN_PREFIX } from './plan.js';
import { jumpKey, type PresentState } from './render.js';

/** One table as saved: chain names in order and each chain's rules (normalised specs, in order). */
export interface SavedTable {
  readonly chains: string[];
  readonly rules: Map<string, string[]>;
}

/** Splits a saved rule into tokens, keeping double-quoted strings (comments) whole. */
export function tokenise(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] !== undefined ? `"${m[1]}"` : m[2]!);
  return out;
}

const IMPLICIT_MATCHES = new Set(['tcp', 'udp', 'icmp', 'icmp6', 'ipv6-icmp']);
const BASIC = new Set(['-s', '-d', '-i', '-o', '-p', '--source', '--destination', '--in-interface', '--out-interface', '--protocol']);
const LONG_BASIC: Record<string, string> = { '--source': '-s', '--destination': '-d', '--in-interface': '-i', '--out-interface': '-o', '--protocol': '-p' };
const PROTOCOLS: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'ipv6-icmp', icmpv6: 'ipv6-icmp' };

/** The normal form of a rule spec (the tokens after `-A CHAIN`), as one string. */
export function normaliseSpec(tokens: readonly string[]): string {
  const basic: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    let t = tokens[i]!;
    const negated = t === '!' && BASIC.has(tokens[i + 1] ?? '');
    if (negated) t = tokens[++i]!;
    if (BASIC.has(t)) {
      const opt = LONG_BASIC[t] ?? t;
      let value = (tokens[++i] ?? '').toLowerCase();
      if (opt === '-p') value = PROTOCOLS[value] ?? value;
      if (opt === '-s' || opt === '-d') value = value.replace(/\/(32|128)$/, '').replace(/^::ffff:/, '');
      basic.push(`${negated ? '! ' : ''}${opt} ${value}`);
      continue;
    }
    if (t === '-m' && IMPLICIT_MATCHES.has(tokens[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (t === '--syn') {
      rest.push('--tcp-flags', 'FIN,SYN,RST,ACK', 'SYN');
      continue;
    }
    if (t === '--ctstate' || t === '--state') {
      rest.push('--ctstate', (tokens[++i] ?? '').split(',').sort().join(','));
      continue;
    }
    rest.push(/^0x[0-9a-f]+(\/0x[0-9a-f]+)?$/i.test(t) ? t.toLowerCase() : t);
  }
  return [...basic.sort(), ...rest].join(' ');
}

/** Parses iptables-save output into tables. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: [], rules: new Map() };
      tables.set(line.slice(1), current);
      continue;
    }
    if (!current) continue;
    if (line === 'COMMIT') {
      current = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      current.chains.push(name);
      current.rules.set(name, []);
      continue;
    }
    // Legacy iptables-save -c prefixes counters: "[12:3456] -A CHAIN ...".
    const tokens = tokenise(line.replace(/^\[\d+:\d+\]\s+/, ''));
    if (tokens[0] !== '-A' || tokens[1] === undefined) continue;
    const chain = tokens[1];
    const list = current.rules.get(chain) ?? [];
    list.push(normaliseSpec(tokens.slice(2)));
    current.rules.set(chain, list);
  }
  return tables;
}

/** What of ours is present in parsed tables: copies of jumps into CCMESH_ chains, and the CCMESH_ chains. */
export function presentState(tables: ReadonlyMap<string, SavedTable>): Map<string, PresentState> {
  const out = new Map<string, PresentState>();
  for (const [name, t] of tables) {
    const jumps = new Map<string, number>();
    for (const [chain, rules] of t.rules) {
      if (chain.startsWith(CHAIN_PREFIX)) continue;
      for (const r of rules) {
        const m = /^-j (CCMESH_\S+)$/.exec(r);
        if (m) jumps.set(jumpKey(chain, m[1]!), (jumps.get(jumpKey(chain, m[1]!)) ?? 0) + 1);
      }
    }
    out.set(name, { jumps, chains: new Set(t.chains.filter((c) => c.startsWith(CHAIN_PREFIX))) });
  }
  return out;
}
