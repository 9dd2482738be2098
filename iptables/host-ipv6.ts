/**
 * What the kernel says about IPv6, from /proc/net/if_inet6: whether it has IPv6 at all (the file exists whenever the
 * IPv6 stack is loaded, even with every interface's `disable_ipv6=1`), and which addresses (global, ULA or
 * link-local) are on interfaces other than lo. Read through the executor, because /proc/net is per network
 * namespace: the answer must come from the namespace the rules go into, not from wherever this process runs.
 */
import { CcmeshError, ErrorCode } from '../lib/errors.js';
import type { Executor } from './executor.js';

/** One line of /proc/net/if_inet6. */
export interface Inet6Address {
  readonly address: string;
  readonly interface: string;
}

/** Parses /proc/net/if_inet6 (`addr32hex ifindex prefixlen scope flags ifname` per line). */
export function parseIfInet6(text: string): Inet6Address[] {
  const out: Inet6Address[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^[0-9a-f]{32}$/i.test(f[0]!)) continue;
    // Compressed like inet_ntop (the URL parser applies RFC 5952), so messages show what `ip addr` shows.
    const full = f[0]!.replace(/(.{4})(?!$)/g, '$1:').toLowerCase();
    out.push({ address: new URL(`http://[${full}]/`).hostname.slice(1, -1), interface: f[5]! });
  }
  return out;
}

/** The IPv6 state of the target namespace. */
export interface Ipv6Probe {
  /** The kernel has IPv6: an address can appear on any interface at any time (sysctl, `ip addr add`). */
  readonly kernel: boolean;
  /** IPv6 addresses on non-loopback interfaces right now. */
  readonly addresses: readonly Inet6Address[];
}

/** Reads /proc/net/if_inet6 in the target namespace. */
export async function probeIpv6(exec: Executor): Promise<Ipv6Probe> {
  const r = await exec.run('cat', ['/proc/net/if_inet6']);
  if (r.code !== 0) {
    // Missing file = no IPv6 in this kernel. Any other failure must not read as "no IPv6": that would lift the guard.
    if (/No such file/.test(r.stderr)) return { kernel: false, addresses: [] };
    throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, `reading /proc/net/if_inet6 failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return { kernel: true, addresses: parseIfInet6(r.stdout).filter((a) => a.interface !== 'lo') };
}

/** The IPv6 addresses on non-loopback interfaces; empty when the kernel has no IPv6 (the file is missing). */
export async function ipv6Configured(exec: Executor): Promise<readonly Inet6Address[]> {
  return (await probeIpv6(exec)).addresses;
}

/** `addr on if, …` for error messages. */
export function describeAddresses(addrs: readonly Inet6Address[]): string {
  return addrs.map((a) => `${a.address} on ${a.interface}`).join(', ');
}
