/**
 * A real etcd for tests (Debian's `etcd-server` package; `CCMESH_ETCD` names another binary): one member on free
 * loopback ports with its data in a temporary directory, stopped (SIGTERM, then SIGKILL) and removed at the end. It
 * never uses the package's service or its default ports. Used by tests only.
 *
 * {@link etcdOrSkip} is the gate every etcd test goes through: without a usable binary the test skips with the
 * reason, except as root or under CI (`CI` set), where that is a failure — CI installs the package.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePorts } from '../../../lib/net/free-ports.js';

/** The etcd binary to run, or why there is none. */
export type EtcdFound = { readonly bin: string; readonly version: string } | { readonly reason: string };

/** Finds an executable `etcd` (or `$CCMESH_ETCD`) and checks that `--version` runs. */
export async function findEtcd(): Promise<EtcdFound> {
  const bin = process.env.CCMESH_ETCD ?? [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'].map((d) => join(d, 'etcd')).find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (bin === undefined) return { reason: 'no etcd on PATH (Debian: apt-get install etcd-server; or set CCMESH_ETCD=/path/to/etcd)' };
  const out = await new Promise<{ ok: boolean; text: string }>((resolve) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout, stderr) => resolve({ ok: err === null, text: `${stdout}${stderr}`.trim() || (err?.message ?? '') }));
  });
  if (!out.ok) return { reason: `"${bin} --version" failed: ${out.text}` };
  return { bin, version: out.text.split('\n')[0] ?? '' };
}

/** Whether etcd tests must run here (and so fail rather than skip): under CI, or as root (who can install it). */
export function etcdRequired(): boolean {
  return Boolean(process.env.CI) || process.getuid?.() === 0;
}

/**
 * The binary for this test file, or undefined after recording a skip (locally) or a failure (root/CI) on `t`.
 * Call once at the top level of an etcd test file.
 */
export async function etcdOrSkip(t: { fail(m: string): unknown; comment(m: string): unknown; pass(m: string, o: { skip: string }): unknown }, what: string): Promise<string | undefined> {
  const found = await findEtcd();
  if (!('reason' in found)) return found.bin;
  if (etcdRequired()) t.fail(`${what} must run ${process.env.CI ? 'in CI' : 'as root'} but cannot: ${found.reason}`);
  else {
    t.comment(`skipping ${what}: ${found.reason}`);
    t.pass(what, { skip: found.reason });
  }
  return undefined;
}

const KEEP = 32 * 1024;

/** One running etcd member (alone, or one of an {@link EtcdCluster}). */
export class EtcdServer {
  readonly #bin: string;
  readonly dir: string;
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly #extraArgs: readonly string[];
  readonly #scheme: 'http' | 'https';
  /** `--initial-cluster`: every member's `name=peer URL` (this one alone unless part of a cluster). */
  #initialCluster: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  private constructor(bin: string, dir: string, name: string, clientPort: number, peerPort: number, scheme: 'http' | 'https', extraArgs: readonly string[]) {
    this.#bin = bin;
    this.dir = dir;
    this.name = name;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.#scheme = scheme;
    this.#extraArgs = extraArgs;
    this.#initialCluster = `${name}=${this.peerUrl}`;
  }

  /** A member that is not started yet, for {@link EtcdCluster.start}. */
  static async unstarted(bin: string, name: string): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), `ccmesh-etcd-${name}-`));
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    return new EtcdServer(bin, dir, name, clientPort, peerPort, 'http', []);
  }

  /**
   * Starts a member with its data under a new temporary directory and waits until it answers. `tls` makes the client
   * port https (server certificate and key files; with `clientCa`, client certificates are required).
   */
  static async start(bin: string, opts: { tls?: { certFile: string; keyFile: string; clientCaFile?: string } } = {}): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-etcd-'));
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const tls = opts.tls;
    const extra = tls
      ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, ...(tls.clientCaFile ? [`--trusted-ca-file=${tls.clientCaFile}`, '--client-cert-auth'] : [])]
      : [];
    const server = new EtcdServer(bin, dir, 'ccmesh-test', clientPort, peerPort, tls ? 'https' : 'http', extra);
    try {
      await server.resume();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The client URL. */
  get endpoint(): string {
    return `${this.#scheme}://127.0.0.1:${this.clientPort}`;
  }

  /** The peer URL (always http on loopback). */
  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }

  /** Sets `--initial-cluster` before the first start (cluster members only). */
  setInitialCluster(initial: string): void {
    if (this.#child) throw new Error('etcd is already running');
    this.#initialCluster = initial;
  }

  /** Whether the process runs (started and not paused or exited). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** What the member printed last (for failure messages). */
  get log(): string {
    return this.#log;
  }

  /** (Re)starts the member on the same ports and data directory; resolves once its client port answers. */
  async resume(timeoutMs = 20_000): Promise<void> {
    if (this.#child) throw new Error('etcd is already running');
    const peer = this.peerUrl;
    const child = spawn(this.#bin, [
      `--name=${this.name}`, `--data-dir=${join(this.dir, 'data')}`,
      `--listen-client-urls=${this.endpoint}`, `--advertise-client-urls=${this.endpoint}`,
      // A restarted member reads its cluster from its data directory; these two count only at the first start.
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=${this.#initialCluster}`,
      // Info level: "serving client traffic" is how the member says it is ready (once the cluster has a leader).
      '--initial-cluster-state=new', '--logger=zap', '--log-level=info', '--log-outputs=stderr',
      ...this.#extraArgs,
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } });
    this.#child = child;
    let serving = false;
    let thisRun = '';
    const keep = (d: Buffer): void => {
      const text = d.toString();
      thisRun = (thisRun + text).slice(-KEEP);
      if (/"msg":"serving client traffic/.test(thisRun)) serving = true;
      this.#log = (this.#log + text).slice(-KEEP);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exitCode: number | string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('error', (e) => {
        exitCode = `spawn failed: ${e.message}`;
        resolve();
      });
      child.once('close', (code, signal) => {
        exitCode = code ?? signal ?? 'unknown';
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`etcd exited (${exitCode}) before it answered:\n${this.#log}`);
      if (serving) return;
      if (Date.now() > deadline) {
        await this.pause();
        throw new Error(`etcd did not answer on ${this.endpoint} within ${timeoutMs} ms:\n${this.#log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops the member (SIGTERM, SIGKILL after 5 s) and keeps its data for {@link resume}. */
  async pause(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(timer);
    this.#child = undefined;
  }

  /** Stops the member and removes its directory. */
  async stop(): Promise<void> {
    await this.pause();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A real etcd cluster for tests: `size` members on free loopback ports, each with its own temporary data directory,
 * started together (a member serves clients only once a quorum has elected a leader). Members can be paused and
 * resumed one by one; {@link stop} stops and removes them all.
 */
export class EtcdCluster {
  readonly members: readonly EtcdServer[];

  private constructor(members: readonly EtcdServer[]) {
    this.members = members;
  }

  static async start(bin: string, size = 3, opts: { namePrefix?: string } = {}): Promise<EtcdCluster> {
    const members: EtcdServer[] = [];
    for (let i = 0; i < size; i++) members.push(await EtcdServer.unstarted(bin, `${opts.namePrefix ?? 'ccmesh-member'}-${i}`));
    const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    for (const m of members) m.setInitialCluster(initial);
    const cluster = new EtcdCluster(members);
    const started = await Promise.allSettled(members.map((m) => m.resume(30_000)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await cluster.stop();
      throw failed.reason;
    }
    return cluster;
  }

  /** Every member's client URL. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Stops every member and removes their directories. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}
