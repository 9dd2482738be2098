/**
 * End-to-end harness: network namespaces on one shared link and the real `ccmesh` processes inside them.
 *
 * The link is a bridge in the Coordinator's namespace (which also carries the Coordinator's address); every other
 * namespace — pods, the attacker — hangs off it with a veth pair. Addresses come from 198.19.50.0/24 and
 * fd00:cce::/64 (no other suite uses them). Names are `ccm-e2e-<pid>-<role>`, so parallel runs never collide.
 * `destroy()` SIGKILLs every process started through the harness, waits for them, and deletes every namespace
 * (which takes interfaces, iptables rules and routes with it). It is safe to call twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type Executor, netnsExecutor, ProcessExecutor } from '../../iptables/executor.js';

/** Roles on the link and their host number (the last octet of 198.19.50.x, the last group of fd00:cce::x). */
export const HOSTS = Object.freeze({ coord: 1, a: 10, b: 20, c: 30, d: 40, e: 50, atk: 66 });
/** A namespace role. */
export type Role = keyof typeof HOSTS;

/** IPv4 address of a role. */
export const addr4 = (r: Role): string => `198.19.50.${HOSTS[r]}`;
/** IPv6 address of a role (the host number written as an IPv6 group). */
export const addr6 = (r: Role): string => `fd00:cce::${HOSTS[r]}`;

/** A process running inside a namespace, with its output kept for assertions. */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  /** stdout lines that parsed as JSON objects (the test helpers' events). */
  readonly events: Record<string, unknown>[] = [];
  /** stderr text (ccmesh's JSON log lines) and non-JSON stdout. */
  #text = '';
  #waiters: (() => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, ns: string, cmd: string, args: readonly string[]) {
    this.name = name;
    // `ip netns exec` execs the command, so child.pid is the command's own pid.
    this.child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stdin!.on('error', () => undefined);
    this.child.stderr!.on('data', (d: Buffer) => this.#append(d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (parsed !== null && typeof parsed === 'object') this.events.push(parsed as Record<string, unknown>);
      else this.#text += `[stdout] ${line}\n`;
      this.#wake();
    });
    this.child.once('exit', () => this.#wake());
  }

  #append(s: string): void {
    this.#text += s;
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Everything logged so far. */
  get log(): string {
    return this.#text;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until `cond()` holds, re-checking on every output or exit; false after `timeoutMs`. */
  async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (cond()) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Events whose `event` field is `kind`. */
  eventsOf(kind: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === kind);
  }

  /** Closes stdin (the helpers' "stop" signal) and waits for the exit, SIGKILL after `graceMs`. */
  async close(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** The namespaces, the link and the processes of one e2e run. */
export class Topology {
  readonly base: string;
  readonly host: Executor = new ProcessExecutor({ timeoutMs: 90_000 });
  readonly #procs: Proc[] = [];
  readonly #created: string[] = [];
  #counter = 0;

  private constructor(base: string) {
    this.base = base;
  }

  /** Namespace name of a role. */
  ns(r: Role): string {
    return `${this.base}-${r}`;
  }

  /** An executor running commands inside a role's namespace. */
  exec(r: Role): Executor {
    return netnsExecutor(this.host, this.ns(r));
  }

  /** Creates the Coordinator namespace with the bridge, then one namespace per role in `roles`, on the link. */
  static async create(roles: readonly Exclude<Role, 'coord'>[]): Promise<Topology> {
    const topo = new Topology(`ccm-e2e-${process.pid}`);
    try {
      await topo.#addNamespace('coord');
      const coord = topo.ns('coord');
      await topo.#ip('-n', coord, 'link', 'set', 'lo', 'up');
      await topo.#ip('-n', coord, 'link', 'add', 'br0', 'type', 'bridge');
      await topo.#ip('-n', coord, 'addr', 'add', `${addr4('coord')}/24`, 'dev', 'br0');
      await topo.#ip('-n', coord, '-6', 'addr', 'add', `${addr6('coord')}/64`, 'dev', 'br0', 'nodad');
      await topo.#ip('-n', coord, 'link', 'set', 'br0', 'up');
      for (const r of roles) await topo.#attach(r);
      return topo;
    } catch (err) {
      await topo.destroy();
      throw err;
    }
  }

  async #ip(...args: string[]): Promise<void> {
    const r = await this.host.run('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  }

  async #addNamespace(r: Role): Promise<void> {
    await this.#ip('netns', 'add', this.ns(r));
    this.#created.push(this.ns(r));
  }

  /** A namespace for `r`, joined to the bridge by a veth pair (interface names ≤ 15 characters). */
  async #attach(r: Exclude<Role, 'coord'>): Promise<void> {
    await this.#addNamespace(r);
    const ns = this.ns(r);
    const [outer, inner] = [`e${process.pid % 100000}${r}o`, this.#inner(r)];
    await this.#ip('link', 'add', outer, 'netns', this.ns('coord'), 'type', 'veth', 'peer', 'name', inner, 'netns', ns);
    await this.#ip('-n', this.ns('coord'), 'link', 'set', outer, 'master', 'br0', 'up');
    await this.#ip('-n', ns, 'link', 'set', 'lo', 'up');
    await this.#ip('-n', ns, 'addr', 'add', `${addr4(r)}/24`, 'dev', inner);
    await this.#ip('-n', ns, '-6', 'addr', 'add', `${addr6(r)}/64`, 'dev', inner, 'nodad');
    await this.#ip('-n', ns, 'link', 'set', inner, 'up');
  }

  /** The pod-side interface of a role's veth pair. */
  #inner(r: Exclude<Role, 'coord'>): string {
    return `e${process.pid % 100000}${r}i`;
  }

  /** Forgets every neighbour (ARP, NDP) in every namespace, so the next packet asks who holds an address now. */
  async #flushNeighbours(): Promise<void> {
    for (const ns of this.#created) {
      await this.host.run('ip', ['-n', ns, '-4', 'neigh', 'flush', 'all']);
      await this.host.run('ip', ['-n', ns, '-6', 'neigh', 'flush', 'all']);
    }
  }

  /**
   * The host re-plumbs its network: `victim`'s IPv4 and IPv6 addresses move to `attacker`'s interface, so whoever
   * connects to the victim reaches the attacker. Resolves with the undo, which moves them back.
   */
  async takeOver(victim: Exclude<Role, 'coord'>, attacker: Exclude<Role, 'coord'>): Promise<() => Promise<void>> {
    const move = async (from: Exclude<Role, 'coord'>, to: Exclude<Role, 'coord'>): Promise<void> => {
      await this.#ip('-n', this.ns(from), 'addr', 'del', `${addr4(victim)}/24`, 'dev', this.#inner(from));
      await this.#ip('-n', this.ns(from), '-6', 'addr', 'del', `${addr6(victim)}/64`, 'dev', this.#inner(from));
      await this.#ip('-n', this.ns(to), 'addr', 'add', `${addr4(victim)}/24`, 'dev', this.#inner(to));
      await this.#ip('-n', this.ns(to), '-6', 'addr', 'add', `${addr6(victim)}/64`, 'dev', this.#inner(to), 'nodad');
      await this.#flushNeighbours();
    };
    await move(victim, attacker);
    return () => move(attacker, victim);
  }

  /**
   * The host redirects TCP from `from` to the Coordinator's `port` to the same port of `to` (DNAT in the
   * Coordinator's namespace, which carries the link, and masquerading so the answers come back the same way). The
   * pod's own pinned address is unchanged. Resolves with the undo.
   */
  async redirectToCoordinator(from: Exclude<Role, 'coord'>, port: number, to: Exclude<Role, 'coord'>): Promise<() => Promise<void>> {
    const coord = this.exec('coord');
    const rules = [
      ['PREROUTING', '-s', addr4(from), '-d', addr4('coord'), '-p', 'tcp', '--dport', String(port), '-j', 'DNAT', '--to-destination', `${addr4(to)}:${port}`],
      ['POSTROUTING', '-s', addr4(from), '-d', addr4(to), '-p', 'tcp', '--dport', String(port), '-j', 'MASQUERADE'],
    ];
    const run = async (cmd: string, args: string[]): Promise<void> => {
      const r = await coord.run(cmd, args);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
    };
    await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    for (const rule of rules) await run('iptables', ['-t', 'nat', '-A', ...rule]);
    return async () => {
      for (const rule of rules) await run('iptables', ['-t', 'nat', '-D', ...rule]);
      await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
    };
  }

  /** Starts `cmd args` inside a role's namespace; the process is killed by {@link destroy}. */
  spawn(r: Role, name: string, cmd: string, args: readonly string[]): Proc {
    const p = new Proc(`${name}#${++this.#counter}`, this.ns(r), cmd, args);
    this.#procs.push(p);
    return p;
  }

  /** Every process started so far (for printing logs when a test fails). */
  get procs(): readonly Proc[] {
    return this.#procs;
  }

  /** Kills every process, then deletes every namespace. */
  async destroy(): Promise<void> {
    await Promise.all(this.#procs.splice(0).map((p) => p.kill('SIGKILL')));
    for (const ns of this.#created.splice(0).reverse()) await this.host.run('ip', ['netns', 'del', ns]);
  }
}
