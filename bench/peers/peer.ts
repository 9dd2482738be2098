/**
 * The contract every implementation of the reference path fulfils: given ports, a test PKI and the CPUs to run on,
 * start an egress and an ingress sidecar (or nothing, for the direct path) and hand back their pids and a stop().
 * Adding Envoy or another peer is one more file beside this one.
 */
import type { TestPki } from '../proxy/pki.js';

/** Loopback ports one implementation may use; the upstream ports are shared by every implementation. */
export interface PeerPorts {
  /** The app server's HTTP/1.1 port. */
  readonly upstreamH1: number;
  /** The app server's h2c (prior knowledge) port. */
  readonly upstreamH2: number;
  /** Plaintext egress listeners the load generator connects to. */
  readonly egressH1: number;
  readonly egressH2: number;
  /** mTLS ingress listeners the egress sidecar connects to. */
  readonly ingressH1: number;
  readonly ingressH2: number;
  /** Admin ports (readiness) for sidecars that have one. */
  readonly adminEgress: number;
  readonly adminIngress: number;
}

/** One sidecar process (its descendants, such as nginx workers, are found through /proc when measuring). */
export interface SidecarPid {
  readonly role: 'egress' | 'ingress';
  readonly pid: number;
}

/** A started implementation. `stop()` is idempotent and never throws. */
export interface RunningPeer {
  readonly pids: readonly SidecarPid[];
  /** Where the load generator sends HTTP/1.1 and h2c traffic. */
  readonly target: { readonly h1: number; readonly h2: number };
  /** The mTLS ingress port for the pre-flight identity checks; undefined for the direct path. */
  readonly mtlsIngressH1?: number;
  stop(): Promise<void>;
}

/** Whether an implementation can run on this machine, and why not. */
export type PeerAvailability = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

/** One implementation of the reference path. */
export interface PeerAdapter {
  readonly name: string;
  /** Checks binaries and commands without starting anything long-lived. */
  availability(): Promise<PeerAvailability>;
  /** Starts the sidecars pinned to `cpuSet` (taskset list syntax) when given; resolves once they accept traffic. */
  start(ports: PeerPorts, pki: TestPki, cpuSet?: string): Promise<RunningPeer>;
}
