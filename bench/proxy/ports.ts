/** Free loopback ports for the servers and sidecars of one run. */
import { createServer, type Server } from 'node:net';
import type { PeerPorts } from '../peers/peer.js';

/** Asks the kernel for `n` distinct free ports on 127.0.0.1 (held open together so they are distinct). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('unexpected server address');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Fresh sidecar ports for one implementation, sharing the given upstream ports. */
export async function allocatePeerPorts(upstreamH1: number, upstreamH2: number): Promise<PeerPorts> {
  const [egressH1, egressH2, ingressH1, ingressH2, adminEgress, adminIngress] = await freePorts(6);
  return { upstreamH1, upstreamH2, egressH1: egressH1!, egressH2: egressH2!, ingressH1: ingressH1!, ingressH2: ingressH2!, adminEgress: adminEgress!, adminIngress: adminIngress! };
}
