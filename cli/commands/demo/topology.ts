/**
 * Where the demo's processes run. Loopback mode: everything on this host's 127.0.0.1, no traffic capture. Netns mode
 * (root): one network namespace per participant — Coordinator, "your machine" (the operator and an outsider),
 * frontend pod, backend pod — each with a veth into a bridge namespace, on 198.19.100.0/24 and fd00:ccd::/64 (other
 * tests use 198.18.0.0/24 and fd00:198:18::/64). Every interface is created directly inside a demo namespace, so
 * deleting the namespaces removes everything; nothing is added to the host's own network.
 */
import type { Executor } from '../../../iptables/executor.js';

/** How the demo runs. */
export type DemoMode = 'netns' | 'loopback';

/** Prefix of every namespace the demo creates; leftovers with it are removed at start. */
export const NS_PREFIX = 'ccm-demo-';

/** The participants of the demo. */
export type Role = 'coordinator' | 'user' | 'frontend' | 'backend';

/** Where one participant runs: its namespace (netns mode) and the address others reach it at. */
export interface Place {
  readonly ns: string | undefined;
  readonly ip: string;
}

const BRIDGE_NS = `${NS_PREFIX}br`;
const HOSTS: Readonly<Record<Role, { readonly ns: string; readonly v4: string; readonly v6: string; readonly dev: string }>> = {
  coordinator: { ns: `${NS_PREFIX}coord`, v4: '198.19.100.1', v6: 'fd00:ccd::1', dev: 'ccmd-coord' },
  frontend: { ns: `${NS_PREFIX}frontend`, v4: '198.19.100.2', v6: 'fd00:ccd::2', dev: 'ccmd-front' },
  backend: { ns: `${NS_PREFIX}backend`, v4: '198.19.100.3', v6: 'fd00:ccd::3', dev: 'ccmd-back' },
  user: { ns: `${NS_PREFIX}user`, v4: '198.19.100.10', v6: 'fd00:ccd::10', dev: 'ccmd-user' },
};
const ROLES = Object.keys(HOSTS) as Role[];

/** The mode the demo runs in and why. */
export interface ModeChoice {
  readonly mode: DemoMode;
  readonly why: string;
}

/** What {@link chooseMode} needs to know about this machine. */
export interface ModeFacts {
  readonly isRoot: boolean;
  /** Why `ip`/`iptables`/`ip6tables` are unusable, or undefined when they work. */
  readonly toolProblem: () => Promise<string | undefined>;
}

/**
 * Picks the mode: netns when root and the tools work, loopback otherwise (with the reason). A forced netns mode that
 * can't run is an error (the caller reports it as a usage error) rather than a silent fallback.
 */
export async function chooseMode(forced: DemoMode | undefined, facts: ModeFacts): Promise<ModeChoice | { readonly error: string }> {
  if (forced === 'loopback') return { mode: 'loopback', why: 'loopback, no traffic capture (--mode loopback)' };
  if (!facts.isRoot) {
    if (forced === 'netns') return { error: '--mode netns needs root (it creates network namespaces and iptables rules); run as root or use --mode loopback' };
    return { mode: 'loopback', why: 'loopback, no traffic capture (not root: run as root for the real thing)' };
  }
  const problem = await facts.toolProblem();
  if (problem !== undefined) {
    if (forced === 'netns') return { error: `--mode netns cannot run here: ${problem}` };
    return { mode: 'loopback', why: `loopback, no traffic capture (root, but ${problem})` };
  }
  return { mode: 'netns', why: 'network namespaces + iptables (running as root)' };
}

/** Why the netns tools can't be used here, or undefined. */
export async function netnsToolProblem(exec: Executor): Promise<string | undefined> {
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['iptables', ['--version']], ['ip6tables', ['--version']]] as const) {
    const r = await exec.run(cmd, args);
    if (r.code !== 0) return `"${cmd} ${args.join(' ')}" failed: ${(r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.code}`}`;
  }
  return undefined;
}

/** The demo's network: where each participant runs, and how to take it all down. */
export interface Topology {
  readonly mode: DemoMode;
  readonly places: Readonly<Record<Role, Place>>;
  /** Namespaces created (empty in loopback mode). */
  readonly namespaces: readonly string[];
  /** Removes every namespace (and with them every link, address and iptables rule). Safe to call twice. */
  destroy(): Promise<void>;
}

/** Loopback: everyone on 127.0.0.1. */
export function loopbackTopology(): Topology {
  const here: Place = { ns: undefined, ip: '127.0.0.1' };
  return { mode: 'loopback', places: { coordinator: here, user: here, frontend: here, backend: here }, namespaces: [], destroy: () => Promise.resolve() };
}

/** Deletes demo namespaces left by an earlier run that crashed, killing the processes still inside them. */
export async function removeLeftovers(exec: Executor): Promise<string[]> {
  const list = await exec.run('ip', ['netns', 'list']);
  const names = list.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n.startsWith(NS_PREFIX));
  for (const ns of names) await deleteNamespace(exec, ns);
  return names;
}

async function deleteNamespace(exec: Executor, ns: string): Promise<void> {
  // Processes inside keep a deleted namespace alive; these are demo processes by construction (the name is ours).
  const pids = await exec.run('ip', ['netns', 'pids', ns]);
  for (const pid of pids.stdout.split('\n').map((p) => Number(p.trim())).filter((p) => Number.isInteger(p) && p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await exec.run('ip', ['netns', 'del', ns]);
}

/** Creates the namespaces, bridge and veths; on failure removes whatever it created and rethrows. */
export async function netnsTopology(exec: Executor): Promise<Topology> {
  const created: string[] = [];
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of [...created].reverse()) await deleteNamespace(exec, ns);
  };
  const ip = async (...args: string[]): Promise<void> => {
    const r = await exec.run('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  };
  try {
    for (const ns of [BRIDGE_NS, ...ROLES.map((r) => HOSTS[r].ns)]) {
      await ip('netns', 'add', ns);
      created.push(ns);
    }
    await ip('-n', BRIDGE_NS, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', BRIDGE_NS, 'link', 'set', 'br0', 'up');
    for (const role of ROLES) {
      const h = HOSTS[role];
      // Both ends are created inside their namespaces, so the names never touch the host's namespace.
      await ip('link', 'add', h.dev, 'netns', h.ns, 'type', 'veth', 'peer', 'name', `${h.dev}-b`, 'netns', BRIDGE_NS);
      await ip('-n', BRIDGE_NS, 'link', 'set', `${h.dev}-b`, 'master', 'br0');
      await ip('-n', BRIDGE_NS, 'link', 'set', `${h.dev}-b`, 'up');
      await ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      await ip('-n', h.ns, 'addr', 'add', `${h.v4}/24`, 'dev', h.dev);
      await ip('-n', h.ns, '-6', 'addr', 'add', `${h.v6}/64`, 'dev', h.dev, 'nodad');
      await ip('-n', h.ns, 'link', 'set', h.dev, 'up');
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  const places = Object.fromEntries(ROLES.map((r) => [r, { ns: HOSTS[r].ns, ip: HOSTS[r].v4 }])) as Record<Role, Place>;
  return { mode: 'netns', places, namespaces: [...created], destroy };
}

/** The command line that runs `cmd args` at `place` (through `ip netns exec` in netns mode). */
export function commandAt(place: Place, cmd: string, args: readonly string[]): [string, string[]] {
  return place.ns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', place.ns, cmd, ...args]];
}
