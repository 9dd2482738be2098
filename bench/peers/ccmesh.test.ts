/**
 * The ccmesh benchmark peers' sidecar command lines are ones the proxy accepts, and each layer configures what its
 * name says: L4 ports and entries unparsed, L7 ports `+http` (HTTP/1.1 app) and `+h2c`, egress entries `#http`.
 */
import t from 'tap';
import { parseProxyFlags } from '../../proxy/test/support.js';
import { ccmeshEgressArgs, ccmeshIngressArgs } from './ccmesh.js';
import type { PeerPorts } from './peer.js';

const PORTS: PeerPorts = { upstreamH1: 41001, upstreamH2: 41002, egressH1: 41003, egressH2: 41004, ingressH1: 41005, ingressH2: 41006, adminEgress: 41007, adminIngress: 41008 };

void t.test('L4 and L7 sidecar argv parse, and the layer decides each port\'s protocol', async (t) => {
  for (const layer of ['l4', 'l7'] as const) {
    // argv[0] is the subcommand `proxy`.
    const ingress = parseProxyFlags(ccmeshIngressArgs(PORTS, '/tls', ['--tunnel', 'on'], layer).slice(1));
    const egress = parseProxyFlags(ccmeshEgressArgs(PORTS, '/tls', 'workload-b.default.svc', ['--tunnel', 'on'], layer).slice(1));
    const protocols = ingress.inbound.map((e) => (e.mode.kind === 'mtls' ? (e.mode.protocol ?? 'l4') : e.mode.kind));
    t.same(protocols, layer === 'l7' ? ['http', 'h2c'] : ['l4', 'l4'], `${layer}: ingress ports`);
    t.same(egress.egress.map((e) => e.protocol ?? 'l4'), layer === 'l7' ? ['http', 'http'] : ['l4', 'l4'], `${layer}: egress entries`);
    t.same(egress.egress.map((e) => e.remote.port), [PORTS.ingressH1, PORTS.ingressH2], `${layer}: egress dials the ingress listeners`);
    t.equal(ingress.tunnel.enabled, true);
  }
});
