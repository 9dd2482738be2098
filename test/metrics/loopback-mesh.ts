/**
 * A small mesh of real `ccmesh` processes on 127.0.0.1, as `ccmesh demo --mode loopback` runs it (and with the
 * demo's process keeper): a simulated SEV-SNP platform (made in-process), a Coordinator on a file store, an operator workspace whose
 * manifest trusts the simulated root and names the policies `coordinator`, `frontend` and `backend` (SANs = names),
 * and pods made of the real initializer (`--no-guard`) and sidecar (`--no-iptables`, explicit listeners). No root,
 * no namespaces, no traffic capture. `stop()` sends SIGTERM to every process (SIGKILL after 5 s). Used by tests only.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { type Child, Children, type Finished, tail } from '../../cli/commands/demo/processes.js';
import type { Place } from '../../cli/commands/demo/topology.js';
import { eventually, GaveUp } from './prometheus.js';

const HERE: Place = { ns: undefined, ip: '127.0.0.1' };

/** The policy documents; their SHA-256 is the HOST_DATA each party attests with. */
export const POLICY_DOCS = {
  coordinator: 'package ccmesh_metrics # the Coordinator\n',
  frontend: 'package ccmesh_metrics # pod "frontend"\n',
  backend: 'package ccmesh_metrics # pod "backend"\n',
} as const;

/** A party of the mesh. */
export type Party = keyof typeof POLICY_DOCS;

/** Hex SHA-256 of `text`. */
export const sha256hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The Coordinator's ports. */
export interface CoordinatorPorts {
  readonly user: number;
  readonly mesh: number;
  readonly metrics: number;
}

/** The manifest fields the tests edit. */
export interface ManifestDoc {
  policies: Record<string, { sans: string[]; workloadSecretId: string; role: string }>;
}

/** A running loopback mesh. */
export class LoopbackMesh {
  readonly kids: Children;
  readonly dir: string;
  readonly ports: CoordinatorPorts;
  readonly coordinator: Child;

  private constructor(dir: string, ports: CoordinatorPorts, kids: Children, coordinator: Child) {
    this.dir = dir;
    this.ports = ports;
    this.kids = kids;
    this.coordinator = coordinator;
  }

  /** The simulated platform's directory. */
  get simDir(): string {
    return join(this.dir, 'platform');
  }

  /** The operator's workspace. */
  get workspace(): string {
    return join(this.dir, 'workspace');
  }

  /** The Coordinator's mesh API, HOST:PORT. */
  get meshAddress(): string {
    return `127.0.0.1:${this.ports.mesh}`;
  }

  /** Runs `ccmesh ARGS…` to completion; throws naming `what` with its output unless it exits 0. */
  async run(what: string, args: readonly string[], timeoutMs = 60_000): Promise<Finished> {
    const r = await this.kids.run(what, HERE, args, timeoutMs);
    if (r.code !== 0) throw new Error(`${what} exited with ${r.code} (expected 0):\n${tail(r.stderr + r.stdout, 30)}`);
    return r;
  }

  /**
   * Creates the platform, starts the Coordinator in `dir` and waits for its startup probe; then `manifest init`, the
   * three policies and the first `set`. Stops what it started if a step fails.
   */
  static async start(dir: string, ports: CoordinatorPorts): Promise<LoopbackMesh> {
    const kids = new Children(undefined);
    const sim = join(dir, 'platform');
    // What `ccmesh attest simulate init --host-data …` makes, with RSA-2048 instead of 4096: key generation is most
    // of its time, and the platform is the test's hardware, not what it tests.
    await initSimulatedPlatform(sim, { rsaBits: 2048, hostData: Buffer.from(sha256hex(POLICY_DOCS.coordinator), 'hex') });
    const coordinator = kids.ccmesh('coordinator', HERE, [
      'coordinator', '--store', `file:${join(dir, 'store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1',
      '--user-port', String(ports.user), '--mesh-port', String(ports.mesh), '--metrics-port', String(ports.metrics), '--log-level', 'warn',
    ]);
    const mesh = new LoopbackMesh(dir, ports, kids, coordinator);
    try {
      // The workspace's keys are made while the Coordinator starts.
      await Promise.all([
        eventually('the Coordinator\'s /probe/startup to answer 200', 30_000, async () => {
          if (!coordinator.running()) throw new GaveUp(`the Coordinator exited with ${await coordinator.exited}:\n${tail(coordinator.stderr())}`);
          const res = await request(`http://127.0.0.1:${ports.metrics}/probe/startup`, { reset: true });
          await res.body.text();
          return { ok: res.statusCode === 200, seen: `HTTP ${res.statusCode}` };
        }),
        mesh.run('manifest init', ['manifest', 'init', '--dir', mesh.workspace, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', mesh.measurement()]),
      ]);
      mkdirSync(join(mesh.workspace, 'policies'), { recursive: true });
      for (const p of Object.keys(POLICY_DOCS) as Party[]) writeFileSync(join(mesh.workspace, 'policies', `${p}.rego`), POLICY_DOCS[p]);
      await mesh.setManifest((m) => {
        for (const p of Object.keys(POLICY_DOCS) as Party[]) {
          m.policies[sha256hex(POLICY_DOCS[p])] = { sans: [p], workloadSecretId: `metrics/${p}`, role: p === 'coordinator' ? 'coordinator' : '' };
        }
      });
      return mesh;
    } catch (err) {
      await mesh.stop();
      throw err;
    }
  }

  /** The simulated platform's launch measurement (the manifest pins it). */
  measurement(): string {
    return (JSON.parse(readFileSync(join(this.simDir, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  }

  /** Edits the workspace's manifest.json and runs `ccmesh set` (the first manifest, or an owner-signed update). */
  async setManifest(edit: (m: ManifestDoc) => void): Promise<Finished> {
    const file = join(this.workspace, 'manifest.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as ManifestDoc;
    edit(manifest);
    writeFileSync(file, JSON.stringify(manifest, null, 2) + '\n');
    return this.run('set', ['set', '-c', `127.0.0.1:${this.ports.user}`, '--dir', this.workspace, '--wait', '20s']);
  }

  /** The TLS directory of pod `pod`. */
  tlsDir(pod: Party): string {
    return join(this.dir, 'pods', pod, 'tls');
  }

  /**
   * Pod `pod`: the initializer attests with its policy (pinning the Coordinator's policy, measurement, root and
   * mesh owner, as `ccmesh generate` pins them) and writes its TLS directory; then `ccmesh proxy ARGS…` starts with
   * that directory, a ready file and loopback-only flags, and this waits for the ready file.
   */
  async pod(pod: Exclude<Party, 'coordinator'>, proxyArgs: readonly string[]): Promise<Child> {
    const home = join(this.dir, 'pods', pod);
    mkdirSync(home, { recursive: true });
    const meshOwner = readFileSync(join(this.workspace, 'mesh-owner'), 'utf8').trim();
    await this.run(`${pod} initializer`, [
      'initializer', '--coordinator', this.meshAddress, '--tee', 'simulated', '--sim-dir', this.simDir, '--host-data', sha256hex(POLICY_DOCS[pod]),
      '--tls-dir', this.tlsDir(pod), '--secret-path', join(home, 'workload-secret'), '--no-guard', '--max-backoff', '1s', '--log-level', 'warn',
      '--coordinator-policy', sha256hex(POLICY_DOCS.coordinator), '--coordinator-measurement', this.measurement(), '--coordinator-root', join(this.simDir, 'ark.pem'),
      '--mesh-owner', meshOwner,
    ]);
    const readyFile = join(home, 'ready');
    const sidecar = this.kids.ccmesh(`${pod} sidecar`, HERE, [
      'proxy', ...proxyArgs, '--no-iptables', '--listen-host', '127.0.0.1', '--admin-host', '127.0.0.1',
      '--tls-dir', this.tlsDir(pod), '--ready-file', readyFile, '--drain', '1s', '--log-level', 'warn',
    ]);
    await eventually(`${pod}'s sidecar to write its ready file`, 20_000, async () => {
      if (!sidecar.running()) throw new GaveUp(`${pod}'s sidecar exited with ${await sidecar.exited}:\n${tail(sidecar.stderr())}`);
      return { ok: existsSync(readyFile), seen: 'no ready file yet' };
    });
    return sidecar;
  }

  /** Stops every process this mesh started; returns how many were still running. */
  stop(): Promise<number> {
    return this.kids.stopAll();
  }
}
