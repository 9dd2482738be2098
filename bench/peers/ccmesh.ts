/**
 * ccmesh's own sidecar pair (`ccmesh proxy`, L4 today): an ingress sidecar holding workload-b's identity that maps
 * each app port to an mTLS listener, and an egress sidecar holding workload-a's identity with plaintext loopback
 * listeners forwarded over mTLS to those listeners. Both run without iptables (the benchmark addresses the
 * listeners directly) and are ready when GET /ready on their admin port returns 200.
 *
 * Written against the proxy's expected CLI before the proxy exists; availability() reports it as not built until
 * `ccmesh proxy --help` succeeds. If the flags change, only the two argv builders below need to follow.
 */
import { SIDECAR_NODE_FLAGS } from '../../contract/sidecar-node-flags.js';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATHS } from '../../lib/pod-layout.js';
import type { SidecarLaunch } from '../args.js';
import type { TestPki, WorkloadFiles } from '../proxy/pki.js';
import { startProcess, waitForHttp200 } from '../proxy/processes.js';
import type { PeerAdapter, PeerAvailability, PeerPorts } from './peer.js';
import { startSidecarPair } from './sidecar-pair.js';

/** The repository's launcher (dist/bench/peers/ccmesh.js → bin/ccmesh). */
const CCMESH_BIN = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bin', 'ccmesh');

/** The line the report prints while the proxy does not exist. */
export const CCMESH_NOT_BUILT = 'not available yet (proxy not built)';

/** Benchmark servers listen on loopback only, and no pod-level ready file is written outside the run directory. */
const LOOPBACK_ONLY = ['--listen-host', '127.0.0.1', '--admin-host', '127.0.0.1', '--ready-file', 'none'];

/** How the sidecars carry the app's bytes: L4 (opaque), or L7 (`http`: requests parsed and sent over the tunnel). */
export type CcmeshLayer = 'l4' | 'l7';

/**
 * argv (after `ccmesh`) of the ingress sidecar: app ports `h1` and `h2`, mTLS listeners on the ingress ports; at L7
 * `h1` is `mtls+http` (the app speaks HTTP/1.1) and `h2` `mtls+h2c`.
 */
export function ccmeshIngressArgs(ports: PeerPorts, tlsDir: string, extra: readonly string[] = [], layer: CcmeshLayer = 'l4'): string[] {
  const [m1, m2] = layer === 'l7' ? ['mtls+http', 'mtls+h2c'] : ['mtls', 'mtls'];
  return [
    'proxy', ...extra, '--no-iptables', '--tls-dir', tlsDir,
    '--ingress', `h1#${ports.upstreamH1}#${m1}##h2#${ports.upstreamH2}#${m2}`,
    '--inbound-port-map', `${ports.upstreamH1}=${ports.ingressH1},${ports.upstreamH2}=${ports.ingressH2}`,
    '--admin-port', String(ports.adminIngress),
    ...LOOPBACK_ONLY,
  ];
}

/**
 * argv (after `ccmesh`) of the egress sidecar: plaintext loopback listeners → mTLS to the ingress listeners, whose
 * leaf must carry `serverSan` (the remotes are IP addresses, from which no identity can be derived).
 */
export function ccmeshEgressArgs(ports: PeerPorts, tlsDir: string, serverSan: string, extra: readonly string[] = [], layer: CcmeshLayer = 'l4'): string[] {
  const l7 = layer === 'l7' ? '#http' : '';
  return [
    'proxy', ...extra, '--no-iptables', '--tls-dir', tlsDir,
    '--egress', `h1#127.0.0.1:${ports.egressH1}#127.0.0.1:${ports.ingressH1}#${serverSan}${l7}##h2#127.0.0.1:${ports.egressH2}#127.0.0.1:${ports.ingressH2}#${serverSan}${l7}`,
    '--admin-port', String(ports.adminEgress),
    ...LOOPBACK_ONLY,
  ];
}

let launch: SidecarLaunch = { nodeFlags: [] };
/** Pairs started so far, so that each pair's profiles land in their own directory. */
let started = 0;

/** Sets how the ccmesh sidecars of this run are started (`--node`, `--node-flags`, `--profile`); before any start(). */
export function setCcmeshLaunch(l: SidecarLaunch): void {
  launch = l;
}

/** The node/V8 flags of every ccmesh sidecar: as deployed (the injected container's NODE_OPTIONS), then --node-flags. */
function sidecarFlags(l: SidecarLaunch): string[] {
  return [...SIDECAR_NODE_FLAGS, ...l.nodeFlags];
}

/** The node binary and the flags before the launcher for one sidecar (`peer-role` names its profile directory). */
export function ccmeshNodeArgv(l: SidecarLaunch, label: string): { node: string; flags: string[] } {
  const flags = sidecarFlags(l);
  if (l.profileDir !== undefined) flags.push('--cpu-prof', '--cpu-prof-dir', join(resolve(l.profileDir), label));
  return { node: l.node ?? process.execPath, flags };
}

/** Lays out a pod's TLS directory (docs/design.md §5 file names) for one workload identity. */
function writeTlsDir(dir: string, pki: TestPki, id: WorkloadFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  copyFileSync(id.key, join(dir, PATHS.keyFile));
  copyFileSync(id.chain, join(dir, PATHS.chainFile));
  copyFileSync(pki.meshCa, join(dir, PATHS.meshCaFile));
  copyFileSync(pki.rootCa, join(dir, PATHS.rootCaFile));
}

/**
 * A ccmesh adapter: `ccmesh` runs the pooled tunnel between the two sidecars (`--tunnel on`), `ccmesh-per-conn` the same
 * sidecars with `--tunnel off` (one mTLS connection per app connection, the path of a peer without the tunnel),
 * `ccmesh-l7` the tunnel with both ports in L7 HTTP mode.
 */
function ccmeshAdapter(name: string, extra: readonly string[], layer: CcmeshLayer = 'l4'): PeerAdapter {
  return {
    name,
    availability(): Promise<PeerAvailability> {
      if (!existsSync(CCMESH_BIN)) return Promise.resolve({ ok: false, reason: `${CCMESH_NOT_BUILT}: no ${CCMESH_BIN}` });
      const node = launch.node ?? process.execPath;
      const help = spawnSync(node, [CCMESH_BIN, 'proxy', '--help'], { stdio: 'ignore', timeout: 10_000 });
      if (help.status !== 0) return Promise.resolve({ ok: false, reason: `${CCMESH_NOT_BUILT} (or ${node} cannot run it)` });
      const v = spawnSync(node, [CCMESH_BIN, 'version'], { encoding: 'utf8', timeout: 10_000 });
      const nv = spawnSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 });
      // The report names every flag the sidecars run with, the deployed ones included.
      return Promise.resolve({ ok: true, version: `${v.stdout.trim() || 'unknown'} (node ${[nv.stdout.trim(), ...sidecarFlags(launch)].join(' ')})` });
    },
    start(ports, pki, cpuSet) {
      const pair = ++started;
      const side = (role: 'ingress' | 'egress') => (runDir: string) => {
        const tlsDir = join(runDir, `${role}-tls`);
        writeTlsDir(tlsDir, pki, role === 'ingress' ? pki.workloadB : pki.workloadA);
        // Profiled: a short drain, so the process exits (and writes its profile) soon after SIGTERM.
        const ex = launch.profileDir !== undefined ? [...extra, '--drain', '2s'] : extra;
        const args = role === 'ingress' ? ccmeshIngressArgs(ports, tlsDir, ex, layer) : ccmeshEgressArgs(ports, tlsDir, pki.workloadB.dnsName, ex, layer);
        const { node, flags } = ccmeshNodeArgv(launch, `${String(pair).padStart(2, '0')}-${name}-${role}`);
        const proc = startProcess(`${name} ${role}`, node, [...flags, CCMESH_BIN, ...args], join(runDir, `${role}.log`), cpuSet);
        const admin = role === 'ingress' ? ports.adminIngress : ports.adminEgress;
        return { proc, ready: waitForHttp200(admin, '/ready', 10_000, proc) };
      };
      // A profile is written when the process exits: give the drain time to finish instead of SIGKILL after 3 s.
      return startSidecarPair(name, ports, side('ingress'), side('egress'), launch.profileDir !== undefined ? 12_000 : undefined);
    },
  };
}

/** ccmesh sidecars with the pooled tunnel (`--tunnel on`, the default; pinned so the peer's meaning never changes). */
export const ccmeshPeer: PeerAdapter = ccmeshAdapter('ccmesh', ['--tunnel', 'on']);

/** ccmesh sidecars with `--tunnel off`: per-connection mTLS. */
export const ccmeshPerConnPeer: PeerAdapter = ccmeshAdapter('ccmesh-per-conn', ['--tunnel', 'off']);

/** ccmesh sidecars with the pooled tunnel and both ports in L7 HTTP mode (requests multiplexed as HTTP/2 requests). */
export const ccmeshL7Peer: PeerAdapter = ccmeshAdapter('ccmesh-l7', ['--tunnel', 'on'], 'l7');
