/**
 * Test harness for the privileged tier: a "pod" and a "client" network namespace joined by a veth pair, with
 * 198.18.0.0/15 and fd00:198:18::/64 test addresses, and agents (netns-agent.ts) running inside them. Names are
 * unique per run (<prefix>-<pid>-<n>-…, prefix `ccm` unless given); `destroy()` kills every agent and deletes both
 * namespaces, which takes their interfaces, iptables rules and routing with them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Executor, netnsExecutor, ProcessExecutor } from '../../../iptables/executor.js';

/** Addresses of the pair. */
export const ADDR = Object.freeze({ pod4: '198.18.0.1', client4: '198.18.0.2', pod6: 'fd00:198:18::1', client6: 'fd00:198:18::2' });

/** Why privileged tests cannot run here, or undefined when they can. */
export async function privilegedSkipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and iptables)';
  const exec = new ProcessExecutor({ timeoutMs: 5000 });
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['iptables', ['--version']], ['ip6tables', ['--version']]] as const) {
    const r = await exec.run(cmd, args);
    if (r.code !== 0) return `"${cmd} ${args.join(' ')}" failed (${r.code}): ${r.stderr.trim()}`;
  }
  return undefined;
}

/** A running agent inside a namespace. */
export class Agent {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (v: Record<string, unknown>) => void>();
  readonly events: Record<string, unknown>[] = [];
  #next = 1;
  #eventWaiters: (() => void)[] = [];

  constructor(ns: string) {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'netns-agent.js');
    this.#child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (typeof msg.id === 'number') {
        this.#waiting.get(msg.id)?.(msg);
        this.#waiting.delete(msg.id);
      } else {
        this.events.push(msg);
        for (const w of this.#eventWaiters.splice(0)) w();
      }
    });
  }

  /** Sends a command and waits for its answer. */
  request(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  /** Waits (bounded) for an event matching `pred`. */
  async event(pred: (e: Record<string, unknown>) => boolean, timeoutMs = 2000): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#eventWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Stops the agent (stdin closed, then SIGKILL if it lingers). */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.#child.once('exit', () => r()));
    this.#child.stdin!.end();
    const t = setTimeout(() => this.#child.kill('SIGKILL'), 1000);
    await exited;
    clearTimeout(t);
  }
}

let counter = 0;

/** How {@link NetnsPair.create} sets the pair up. */
export interface NetnsPairOptions {
  /** Namespace name prefix, so concurrent test files can tell their namespaces apart (default `ccm`). */
  readonly prefix?: string;
  /**
   * false = IPv6 disabled on the pod's veth (`net.ipv6.conf.<if>.disable_ipv6=1`, no address, not even link-local);
   * lo keeps ::1, as in a pod whose interface has no IPv6 yet. The client keeps its IPv6 address either way.
   */
  readonly podIpv6?: boolean;
}

/** A pod/client namespace pair. */
export class NetnsPair {
  readonly pod: string;
  readonly client: string;
  readonly host: Executor = new ProcessExecutor({ timeoutMs: 5000 });
  readonly podExec: Executor;
  readonly clientExec: Executor;
  /** The pod's end of the veth pair (for sysctl / `ip addr` in tests that change it). */
  readonly podIf: string;
  readonly #agents: Agent[] = [];

  private constructor(base: string, podIf: string) {
    this.pod = `${base}-pod`;
    this.client = `${base}-cli`;
    this.podIf = podIf;
    this.podExec = netnsExecutor(this.host, this.pod);
    this.clientExec = netnsExecutor(this.host, this.client);
  }

  /** Creates both namespaces and the veth pair; on failure removes whatever was created. */
  static async create(opts: NetnsPairOptions = {}): Promise<NetnsPair> {
    const n = ++counter;
    const vp = `cp${process.pid % 100000}x${n}`;
    const vc = `cc${process.pid % 100000}x${n}`;
    const pair = new NetnsPair(`${opts.prefix ?? 'ccm'}-${process.pid}-${n}`, vp);
    try {
      const run = async (...args: string[]): Promise<void> => {
        const r = await pair.host.run('ip', args);
        if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      };
      await run('netns', 'add', pair.pod);
      await run('netns', 'add', pair.client);
      await run('link', 'add', vp, 'netns', pair.pod, 'type', 'veth', 'peer', 'name', vc, 'netns', pair.client);
      if (opts.podIpv6 === false) {
        // Before the link comes up, so the kernel never assigns it a link-local address.
        await run('netns', 'exec', pair.pod, 'sysctl', '-qw', `net.ipv6.conf.${vp}.disable_ipv6=1`);
      }
      for (const [ns, dev, a4, a6] of [[pair.pod, vp, ADDR.pod4, opts.podIpv6 === false ? undefined : ADDR.pod6], [pair.client, vc, ADDR.client4, ADDR.client6]] as const) {
        await run('-n', ns, 'link', 'set', 'lo', 'up');
        await run('-n', ns, 'addr', 'add', `${a4}/24`, 'dev', dev);
        if (a6 !== undefined) await run('-n', ns, '-6', 'addr', 'add', `${a6}/64`, 'dev', dev, 'nodad');
        await run('-n', ns, 'link', 'set', dev, 'up');
      }
      return pair;
    } catch (err) {
      await pair.destroy();
      throw err;
    }
  }

  /** Starts an agent in the pod (`'pod'`) or client namespace. */
  agent(where: 'pod' | 'client'): Agent {
    const a = new Agent(where === 'pod' ? this.pod : this.client);
    this.#agents.push(a);
    return a;
  }

  /** Stops every agent and deletes both namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all(this.#agents.splice(0).map((a) => a.stop()));
    await this.host.run('ip', ['netns', 'del', this.pod]);
    await this.host.run('ip', ['netns', 'del', this.client]);
  }
}
