/** Free loopback ports for the servers and sidecars of one run. */
import { freePorts } from '../../lib/net/free-ports.js';
import type { PeerPorts } from '../peers/peer.js';

/** Fresh sidecar ports for one implementation, sharing the given upstream ports. */
export async function allocatePeerPorts(upstreamH1: number, upstreamH2: number): Promise<PeerPorts> {
  const [egressH1, egressH2, ingressH1, ingressH2, adminEgress, adminIngress] = await freePorts(6);
  return { upstreamH1, upstreamH2, egressH1: egressH1!, egressH2: egressH2!, ingressH1: ingressH1!, ingressH2: ingressH2!, adminEgress: adminEgress!, adminIngress: adminIngress! };
}
