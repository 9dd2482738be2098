/**
 * The capture rules as data (docs/design.md §4, §5). {@link buildPlan} is pure: the same config always gives the same plan,
 * and the renderer, the verifier and cleanup are all derived from it. Every rule is written in the form
 * `iptables-save` prints it back (`-m tcp` after `-p tcp`, `--tcp-flags` instead of `--syn`, addresses before `-p`),
 * so the normaliser in verify.ts only has to absorb backend differences, not our own spelling.
 *
 * Inbound (mangle PREROUTING → CCMESH_PREROUTING → CCMESH_INBOUND), in this order:
 *   1. loopback is exempt (the proxy reaches the app over lo);
 *   2. excluded ports (admin, probes) and `plain` ports return early — untouched, like traffic without a mesh;
 *   3. the first packet of a TCP flow (ctstate NEW and a bare SYN) gets the admitted conntrack mark;
 *   4. any other TCP packet without that mark is dropped: a flow that predates the rules has no mark;
 *   5. established flows (our accepted transparent sockets, replies to the pod's own connections) are diverted:
 *      packet mark for local routing, then ACCEPT, so TPROXY below only sees new connections;
 *   6. `tls` ports → TPROXY to the TLS-only listener; every other TCP port → TPROXY to the mTLS listener
 *      (unlisted ports require mTLS: the restrictive default).
 * Outbound (mangle OUTPUT → CCMESH_OUTPUT): flows the pod opens get the admitted mark on their SYN (their replies must
 * pass step 4); with egress capture, TCP to the configured CIDRs/ports from anyone but the proxy's uid is marked so
 * policy routing loops it over lo, where CCMESH_PREROUTING TPROXYs it to the outbound listener.
 */
import { isIP } from 'node:net';
import type { IngressEntry } from '../lib/mesh-config/ingress.js';

/** An address family; the plan holds the same rules for both. */
export type Family = 'v4' | 'v6';

/** Both families, v4 first. */
export const FAMILIES: readonly Family[] = ['v4', 'v6'];

/** Whether IPv6 rules are installed: `auto` = when the kernel has IPv6, `on` = required, `off` = never. */
export type Ipv6Mode = 'auto' | 'on' | 'off';

/** A CIDR block with the host bits zero, in the spelling iptables-save prints. */
export interface Cidr {
  readonly family: Family;
  readonly text: string;
}

/** Transparent outbound capture: TCP to these blocks (and, if given, only these ports). */
export interface EgressCapture {
  readonly cidrs: readonly Cidr[];
  readonly ports: readonly number[];
}

/** Everything the plan depends on; parsed once by parseIptablesConfig. */
export interface IptablesConfig {
  readonly ingress: readonly IngressEntry[];
  readonly egressCapture?: EgressCapture;
  readonly adminPort: number;
  /** Further ports never captured (kubelet probes, metrics scraped in plaintext). */
  readonly excludedPorts: readonly number[];
  readonly ipv6: Ipv6Mode;
  /** uid of the proxy process; its own outbound traffic is never captured. */
  readonly proxyUid: number;
  /** Packet mark (and mask: the same bits) that sends a packet through the local routing table. */
  readonly tproxyMark: number;
  /** Conntrack mark (and mask) carried by flows admitted after the rules were installed. */
  readonly admittedMark: number;
  /** Routing table holding `local default dev lo`. */
  readonly routeTable: number;
  /** Priority of the `ip rule` that selects that table. */
  readonly rulePriority: number;
  readonly inboundMtlsPort: number;
  readonly inboundTlsPort: number;
  readonly outboundPort: number;
}

/** The netfilter tables ccmesh writes to. */
export type Table = 'mangle' | 'filter';

/** One rule: the chain it is appended to and its tokens after `-A CHAIN`. */
export interface Rule {
  readonly chain: string;
  readonly spec: readonly string[];
}

/** A jump from a built-in chain into one of ours; always the first rule of the built-in chain. */
export interface Jump {
  readonly from: string;
  readonly to: string;
}

/** Our chains in one table, in declaration order, with their rules and the jumps that hook them in. */
export interface TablePlan {
  readonly table: Table;
  readonly chains: readonly string[];
  readonly rules: readonly Rule[];
  readonly jumps: readonly Jump[];
}

/** `ip rule add fwmark MARK/MASK lookup TABLE priority P` + `ip route add local default dev lo table TABLE`. */
export interface PolicyRouting {
  readonly mark: number;
  readonly table: number;
  readonly priority: number;
}

/** The rules of one family. */
export interface FamilyPlan {
  readonly family: Family;
  readonly tables: readonly TablePlan[];
  readonly routing: PolicyRouting;
}

/** The whole plan: the same capture for IPv4 and IPv6 (egress blocks split by family). */
export interface Plan {
  readonly v4: FamilyPlan;
  readonly v6: FamilyPlan;
  readonly ipv6: Ipv6Mode;
}

/** Names of our chains; the CCMESH_ prefix is how verify and cleanup recognise what is ours. */
export const CHAIN = Object.freeze({
  prerouting: 'CCMESH_PREROUTING',
  inbound: 'CCMESH_INBOUND',
  divert: 'CCMESH_DIVERT',
  output: 'CCMESH_OUTPUT',
  guard: 'CCMESH_GUARD',
});

/** Prefix of every chain ccmesh owns. */
export const CHAIN_PREFIX = 'CCMESH_';

/** Defaults for the settings that are not ports. */
export const PLAN_DEFAULTS = Object.freeze({
  tproxyMark: 0x1,
  admittedMark: 0x2,
  routeTable: 133,
  rulePriority: 32000,
});

/** `0x1/0x1`: a mark that owns exactly its own bits, in iptables-save's spelling. */
export function markText(mark: number): string {
  const hex = `0x${mark.toString(16)}`;
  return `${hex}/${hex}`;
}

/** The address TPROXY binds the lookup to: any address of the family. */
function anyAddress(family: Family): string {
  return family === 'v4' ? '0.0.0.0' : '::';
}

function tproxy(port: number, family: Family, mark: number): string[] {
  return ['-j', 'TPROXY', '--on-port', String(port), '--on-ip', anyAddress(family), '--tproxy-mark', markText(mark)];
}

const TCP = ['-p', 'tcp'];
const SYN = ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'tcp', '--tcp-flags', 'FIN,SYN,RST,ACK', 'SYN'];

function dport(port: number): string[] {
  return ['-p', 'tcp', '-m', 'tcp', '--dport', String(port)];
}

/** Ports that are never captured, sorted: admin, excluded and `plain` ingress ports. */
export function exemptPorts(config: IptablesConfig): number[] {
  const plain = config.ingress.filter((e) => e.mode.kind === 'plain').map((e) => e.port);
  return [...new Set([config.adminPort, ...config.excludedPorts, ...plain])].sort((a, b) => a - b);
}

function buildMangle(config: IptablesConfig, family: Family): TablePlan {
  const rules: Rule[] = [];
  const add = (chain: string, ...spec: string[]): void => {
    rules.push({ chain, spec });
  };
  const egress = config.egressCapture;
  const egressCidrs = egress ? egress.cidrs.filter((c) => c.family === family) : [];

  // Our DIVERT chain: packets of established flows get the routing mark and skip the rest of mangle.
  add(CHAIN.divert, '-j', 'MARK', '--set-xmark', markText(config.tproxyMark));
  add(CHAIN.divert, '-j', 'ACCEPT');

  // Outbound capture lands here after the policy route looped it over lo; it must come before the lo exemption.
  if (egressCidrs.length > 0) {
    add(CHAIN.prerouting, '-i', 'lo', ...TCP, '-m', 'mark', '--mark', markText(config.tproxyMark), ...tproxy(config.outboundPort, family, config.tproxyMark));
  }
  add(CHAIN.prerouting, '-i', 'lo', '-j', 'RETURN');
  add(CHAIN.prerouting, ...TCP, '-j', CHAIN.inbound);

  for (const port of exemptPorts(config)) add(CHAIN.inbound, ...dport(port), '-j', 'RETURN');
  // SECURITY: only a bare SYN that creates a conntrack entry is admitted. A mid-stream packet of a flow whose entry
  // is gone (conntrack flushed, nf_conntrack_tcp_loose pick-up) is NEW too but carries ACK, so it stays unmarked.
  add(CHAIN.inbound, ...TCP, ...SYN, '-j', 'CONNMARK', '--set-xmark', markText(config.admittedMark));
  add(CHAIN.inbound, ...TCP, '-m', 'connmark', '!', '--mark', markText(config.admittedMark), '-j', 'DROP');
  add(CHAIN.inbound, ...TCP, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', CHAIN.divert);
  for (const e of [...config.ingress].sort((a, b) => a.port - b.port)) {
    if (e.mode.kind === 'tls') add(CHAIN.inbound, ...dport(e.port), ...tproxy(config.inboundTlsPort, family, config.tproxyMark));
  }
  add(CHAIN.inbound, ...TCP, ...tproxy(config.inboundMtlsPort, family, config.tproxyMark));

  add(CHAIN.output, ...TCP, ...SYN, '-j', 'CONNMARK', '--set-xmark', markText(config.admittedMark));
  if (egress && egressCidrs.length > 0) {
    // SECURITY: the proxy is exempt by uid, so its own mTLS connections leave directly instead of looping back.
    add(CHAIN.output, ...TCP, '-m', 'owner', '--uid-owner', String(config.proxyUid), '-j', 'RETURN');
    for (const cidr of egressCidrs) {
      const ports = egress.ports.length > 0 ? egress.ports : [undefined];
      for (const p of ports) {
        const portMatch = p === undefined ? [] : ['-m', 'tcp', '--dport', String(p)];
        add(CHAIN.output, '-d', cidr.text, ...TCP, ...portMatch, '-j', 'MARK', '--set-xmark', markText(config.tproxyMark));
      }
    }
  }

  return {
    table: 'mangle',
    chains: [CHAIN.divert, CHAIN.inbound, CHAIN.output, CHAIN.prerouting],
    rules,
    jumps: [
      { from: 'PREROUTING', to: CHAIN.prerouting },
      { from: 'OUTPUT', to: CHAIN.output },
    ],
  };
}

/** Builds the capture plan for both families. Pure. */
export function buildPlan(config: IptablesConfig): Plan {
  const family = (f: Family): FamilyPlan => ({
    family: f,
    tables: [buildMangle(config, f)],
    routing: { mark: config.tproxyMark, table: config.routeTable, priority: config.rulePriority },
  });
  return { v4: family('v4'), v6: family('v6'), ipv6: config.ipv6 };
}

/** The rules of the fail-closed guard for one family (filter INPUT → CCMESH_GUARD). */
export function buildGuard(family: Family): TablePlan {
  const rules: Rule[] = [
    { chain: CHAIN.guard, spec: ['-i', 'lo', '-j', 'ACCEPT'] },
    // Replies to connections the pod itself opened (the initializer's call to the Coordinator) — never packets of
    // a flow someone else opened: those travel in the ORIGINAL direction.
    { chain: CHAIN.guard, spec: ['-m', 'conntrack', '--ctstate', 'ESTABLISHED', '--ctdir', 'REPLY', '-j', 'ACCEPT'] },
  ];
  if (family === 'v6') {
    // Neighbour discovery is IPv6's ARP: without it the pod can't resolve its gateway and the initializer's own
    // connection could not get replies. Hop limit 255 proves the sender is on-link; these carry no payload.
    for (const type of ['134', '135', '136']) {
      rules.push({ chain: CHAIN.guard, spec: ['-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', type, '-m', 'hl', '--hl-eq', '255', '-j', 'ACCEPT'] });
    }
  }
  rules.push({ chain: CHAIN.guard, spec: ['-j', 'DROP'] });
  return { table: 'filter', chains: [CHAIN.guard], rules, jumps: [{ from: 'INPUT', to: CHAIN.guard }] };
}

/** The family of an address literal, or undefined. */
export function familyOf(address: string): Family | undefined {
  const v = isIP(address);
  return v === 4 ? 'v4' : v === 6 ? 'v6' : undefined;
}
