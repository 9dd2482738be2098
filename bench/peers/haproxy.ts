/**
 * HAProxy 2.6 (Debian) as an L4 mTLS sidecar pair: plaintext listener → TLS 1.3 with the workload-a client cert,
 * and a TLS 1.3 listener requiring a client cert from the mesh → plaintext to the app. One thread per sidecar.
 * TLS session resumption is left at HAProxy's defaults (on), as a production sidecar would run it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPki } from '../proxy/pki.js';
import { commandExists, startProcess, tryOutput, waitForPort } from '../proxy/processes.js';
import type { PeerAdapter, PeerAvailability, PeerPorts } from './peer.js';
import { startSidecarPair } from './sidecar-pair.js';

const GLOBAL = (extra: string): string => `global
  nbthread 1
  maxconn 8000
  log stderr format raw local0 err
${extra}
defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 120s
  timeout server 120s
`;

/** Renders the egress sidecar's configuration. */
export function renderHaproxyEgress(ports: PeerPorts, pki: TestPki): string {
  const server = (port: number): string =>
    `  server ingress 127.0.0.1:${port} ssl crt ${pki.workloadA.combined} ca-file ${pki.trustBundle} verify required verifyhost ${pki.workloadB.dnsName} sni str(${pki.workloadB.dnsName})`;
  return `${GLOBAL('  ssl-default-server-options ssl-min-ver TLSv1.3')}
frontend egress_h1
  bind 127.0.0.1:${ports.egressH1} backlog 4096
  default_backend to_ingress_h1
frontend egress_h2
  bind 127.0.0.1:${ports.egressH2} backlog 4096
  default_backend to_ingress_h2
backend to_ingress_h1
${server(ports.ingressH1)}
backend to_ingress_h2
${server(ports.ingressH2)}
`;
}

/** Renders the ingress sidecar's configuration. */
export function renderHaproxyIngress(ports: PeerPorts, pki: TestPki): string {
  const bind = (port: number): string => `  bind 127.0.0.1:${port} ssl crt ${pki.workloadB.combined} ca-file ${pki.trustBundle} verify required backlog 4096`;
  return `${GLOBAL('  ssl-default-bind-options ssl-min-ver TLSv1.3\n  tune.ssl.cachesize 20000')}
frontend ingress_h1
${bind(ports.ingressH1)}
  default_backend app_h1
frontend ingress_h2
${bind(ports.ingressH2)}
  default_backend app_h2
backend app_h1
  server app 127.0.0.1:${ports.upstreamH1}
backend app_h2
  server app 127.0.0.1:${ports.upstreamH2}
`;
}

/** HAProxy sidecars. */
export const haproxyPeer: PeerAdapter = {
  name: 'haproxy',
  availability(): Promise<PeerAvailability> {
    if (!commandExists('haproxy')) return Promise.resolve({ ok: false, reason: 'haproxy not installed (apt-get install haproxy)' });
    const v = /HAProxy version (\S+)/.exec(tryOutput('haproxy', ['-v']) ?? '');
    return Promise.resolve({ ok: true, version: v?.[1] ?? 'unknown' });
  },
  start(ports, pki, cpuSet) {
    const side = (role: 'ingress' | 'egress', config: string, port: number) => (runDir: string) => {
      const cfg = join(runDir, `${role}.cfg`);
      writeFileSync(cfg, config);
      // -db: stay in the foreground; -Ws is not used so the pid is the one process doing the work.
      const proc = startProcess(`haproxy ${role}`, 'haproxy', ['-db', '-f', cfg], join(runDir, `${role}.log`), cpuSet);
      return { proc, ready: waitForPort(port, 5000, proc) };
    };
    return startSidecarPair('haproxy', ports,
      side('ingress', renderHaproxyIngress(ports, pki), ports.ingressH1),
      side('egress', renderHaproxyEgress(ports, pki), ports.egressH1));
  },
};
