/**
 * FakeHost: an {@link Executor} that behaves like a small nf_tables host, for unit tests of the family decisions,
 * the guard and the watchdog without root. It keeps iptables state per family (applying the restore text our
 * renderer writes: `:CHAIN`, `-A`, `-I X 1`, `-D`, `-F`, `-X`), the policy routing (`ip rule`/`ip route` with `-j`
 * reads), and what /proc/net/if_inet6 says. Tests flip `kernelIpv6`, `ip6tables` and `addresses` to model IPv6
 * appearing after startup. Only the commands ccmesh runs are understood; anything else fails loudly (exit 99).
 */
import type { ExecResult, Executor, RecordedCall } from '../../../iptables/executor.js';
import type { Family } from '../../../iptables/plan.js';

const BUILTIN: Readonly<Record<string, readonly string[]>> = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] };

const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const fail = (code: number, stderr: string): ExecResult => ({ code, stdout: '', stderr });

/** One family's tables: table → chain → rule specs (text after `-A CHAIN `). */
type Tables = Map<string, Map<string, string[]>>;

/** A fake host; see the file comment. */
export class FakeHost implements Executor {
  /** /proc/net/if_inet6 exists (the kernel has IPv6). */
  kernelIpv6 = true;
  /** ip6tables is installed and works. */
  ip6tables = true;
  /** IPv6 enabled on lo (`net.ipv6.conf.lo.disable_ipv6=0`); false makes IPv6 routes via lo fail like iproute2 does. */
  loIpv6 = true;
  /** IPv6 addresses on non-lo interfaces, as `address@interface` with the address in full 32-hex-digit form. */
  addresses: string[] = [];
  readonly calls: RecordedCall[] = [];
  readonly #tables = new Map<Family, Tables>([['v4', new Map()], ['v6', new Map()]]);
  readonly #routing = new Map<Family, { rules: string[]; route: boolean }>([['v4', { rules: [], route: false }], ['v6', { rules: [], route: false }]]);

  run(cmd: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
    this.calls.push(stdin === undefined ? { cmd, args: [...args] } : { cmd, args: [...args], stdin });
    return Promise.resolve(this.#answer(cmd, args, stdin ?? ''));
  }

  /** The rules of `chain` in `family`'s `table` (empty when absent). */
  rules(family: Family, table: string, chain: string): readonly string[] {
    return this.#tables.get(family)!.get(table)?.get(chain) ?? [];
  }

  /** Runs a raw change on the state, as someone with NET_ADMIN in the pod might. */
  edit(family: Family, table: string, chain: string, fn: (rules: string[]) => string[]): void {
    const t = this.#table(family, table);
    t.set(chain, fn(t.get(chain) ?? []));
  }

  #table(family: Family, table: string): Map<string, string[]> {
    const tables = this.#tables.get(family)!;
    let t = tables.get(table);
    if (!t) {
      t = new Map((BUILTIN[table] ?? []).map((c) => [c, []]));
      tables.set(table, t);
    }
    return t;
  }

  #answer(cmd: string, args: readonly string[], stdin: string): ExecResult {
    const m = /^(ip6?)tables(?:-nft-(save|restore))?$/.exec(cmd);
    if (m) {
      const family: Family = m[1] === 'ip6' ? 'v6' : 'v4';
      if (family === 'v6' && !this.ip6tables) return fail(127, `${cmd}: command not found`);
      if (args[0] === '--version') return ok(`${cmd} v1.8.9 (nf_tables)\n`);
      if (m[2] === 'save' && args[0] === '-t') return ok(this.#save(family, args[1]!));
      if (m[2] === 'restore') return this.#restore(family, stdin);
    }
    if (cmd === 'cat' && args[0] === '/proc/net/if_inet6') {
      if (!this.kernelIpv6) return fail(1, 'cat: /proc/net/if_inet6: No such file or directory');
      const lines = ['00000000000000000000000000000001 01 80 10 80       lo', ...this.addresses.map((a, i) => `${a.split('@')[0]!} 0${i + 2} 40 00 80     ${a.split('@')[1]!}`)];
      return ok(lines.join('\n') + '\n');
    }
    if (cmd === 'ip') return this.#ip(args);
    return fail(99, `FakeHost does not know "${[cmd, ...args].join(' ')}"`);
  }

  #save(family: Family, table: string): string {
    const out = [`*${table}`];
    const t = this.#table(family, table);
    for (const chain of t.keys()) out.push(`:${chain} ${chain.startsWith('CCMESH_') ? '-' : 'ACCEPT'} [0:0]`);
    for (const [chain, rules] of t) for (const r of rules) out.push(`-A ${chain} ${r}`);
    return [...out, 'COMMIT', ''].join('\n');
  }

  #restore(family: Family, text: string): ExecResult {
    let t: Map<string, string[]> | undefined;
    for (const line of text.split('\n')) {
      if (line.startsWith('*')) t = this.#table(family, line.slice(1));
      else if (!t || line === '' || line === 'COMMIT') continue;
      else if (line.startsWith(':')) t.set(line.slice(1).split(' ')[0]!, []);
      else {
        const [verb, chain, ...rest] = line.split(' ');
        const rules = t.get(chain!);
        if (!rules) return fail(1, `${line}: no chain ${chain}`);
        if (verb === '-A') rules.push(rest.join(' '));
        else if (verb === '-I') rules.unshift(rest.slice(1).join(' '));
        else if (verb === '-D') rules.splice(rules.indexOf(rest.join(' ')) >>> 0, 1);
        else if (verb === '-F') rules.length = 0;
        else if (verb === '-X') t.delete(chain!);
        else return fail(2, `FakeHost restore does not know "${line}"`);
      }
    }
    return ok();
  }

  #ip(args: readonly string[]): ExecResult {
    const json = args[0] === '-j';
    const [fam, what, verb, ...rest] = json ? args.slice(1) : args;
    const family: Family = fam === '-6' ? 'v6' : 'v4';
    if (family === 'v6' && !this.kernelIpv6) return fail(2, 'RTNETLINK answers: Address family not supported by protocol');
    const r = this.#routing.get(family)!;
    if (what === 'rule' && verb === 'show') {
      return ok(JSON.stringify(r.rules.map((x) => {
        const [mark, mask] = x.split(' ')[0]!.split('/');
        return { priority: Number(x.split(' ')[2]), fwmark: mark, fwmask: mask, table: x.split(' ')[1] };
      })));
    }
    if (what === 'route' && verb === 'show') return ok(r.route ? '[{"type":"local","dst":"default","dev":"lo"}]' : '[]');
    if (what === 'rule' && (verb === 'add' || verb === 'del')) {
      // fwmark M/M lookup T priority P
      const key = `${rest[1]} ${rest[3]} ${rest[5]}`;
      if (verb === 'add') r.rules.push(key);
      else r.rules.splice(r.rules.indexOf(key) >>> 0, 1);
      return ok();
    }
    if (what === 'route') {
      if (family === 'v6' && !this.loIpv6 && verb !== 'del') return fail(2, 'Error: IPv6 is disabled on nexthop device.');
      r.route = verb !== 'del';
      return ok();
    }
    return fail(99, `FakeHost does not know "ip ${args.join(' ')}"`);
  }
}
