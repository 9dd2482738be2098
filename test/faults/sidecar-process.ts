/**
 * A sidecar as its own process — `bin/ccmesh proxy --no-iptables …`, exactly what a pod runs minus capture — so a
 * fault test can `kill -9` it, restart it with the same arguments, and read its fd count and RSS from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../fixtures.js';
import { sleep } from '../support/proc.js';

const BIN = join(repoRoot, 'bin', 'ccmesh');

/** A loopback port nothing listens on right now (bound and released; the caller binds it next). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}


/** One sidecar process; `start()` again after `kill()` restarts it with the same arguments. */
export class SidecarProcess {
  readonly adminPort: number;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;
  /** Everything it wrote to stderr (its log), for the failure message. */
  log = '';

  private constructor(args: readonly string[], adminPort: number) {
    this.#args = args;
    this.adminPort = adminPort;
  }

  /** `args` are the proxy flags besides --no-iptables, the admin address and the ready file. */
  static async create(args: readonly string[]): Promise<SidecarProcess> {
    return new SidecarProcess(args, await freePort());
  }

  get pid(): number {
    if (!this.#child?.pid || this.#child.exitCode !== null) throw new Error('the sidecar is not running');
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts it and waits until /ready answers 200 (at most 20 s). */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'proxy', '--no-iptables', '--admin-host', '127.0.0.1', '--admin-port', String(this.adminPort), '--ready-file', 'none', '--log-level', 'warn', ...this.#args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (this.log.length < 64 * 1024) this.log += d.toString();
    });
    this.#child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the sidecar exited (${child.exitCode}) while starting: ${this.log.slice(-2000)}`);
      if ((await this.probe('/ready')) === 200) return;
      await sleep(100);
    }
    throw new Error(`the sidecar was not ready within 20 s: ${this.log.slice(-2000)}`);
  }

  /** GET an admin path; the status, or 0 when nothing answered. */
  async probe(path: '/ready' | '/live'): Promise<number> {
    try {
      return (await fetch(`http://127.0.0.1:${this.adminPort}${path}`, { signal: AbortSignal.timeout(2000) })).status;
    } catch {
      return 0;
    }
  }

  /** SIGKILL, and wait for it to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM (drain), then SIGKILL after `ms`; resolves with the exit code (null when it had to be killed). */
  async stop(ms = 10_000): Promise<number | null> {
    const child = this.#child;
    if (!child || !this.running) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}
