/**
 * nginx 1.22 (Debian, stream module) as an L4 mTLS sidecar pair, one worker per sidecar: plaintext → TLS 1.3 with
 * the workload-a client cert, and TLS 1.3 requiring a mesh client cert → plaintext to the app. Session resumption
 * on (client-side reuse, a shared session cache and tickets), matching the HAProxy pair.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPki } from '../proxy/pki.js';
import { commandExists, startProcess, tryOutput, waitForPort } from '../proxy/processes.js';
import type { PeerAdapter, PeerAvailability, PeerPorts } from './peer.js';
import { startSidecarPair } from './sidecar-pair.js';

/** The dynamic stream module from Debian's libnginx-mod-stream. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

const HEAD = (runDir: string, role: string): string => `load_module ${NGINX_STREAM_MODULE};
worker_processes 1;
daemon off;
master_process on;
pid ${runDir}/${role}.pid;
error_log ${runDir}/${role}.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8000; multi_accept on; }
`;

/** Renders the egress sidecar's configuration. */
export function renderNginxEgress(ports: PeerPorts, pki: TestPki, runDir: string): string {
  return `${HEAD(runDir, 'egress')}stream {
  proxy_connect_timeout 5s;
  proxy_timeout 120s;
  proxy_ssl on;
  proxy_ssl_protocols TLSv1.3;
  proxy_ssl_certificate ${pki.workloadA.chain};
  proxy_ssl_certificate_key ${pki.workloadA.key};
  proxy_ssl_trusted_certificate ${pki.trustBundle};
  proxy_ssl_verify on;
  proxy_ssl_verify_depth 3;
  proxy_ssl_server_name on;
  proxy_ssl_name ${pki.workloadB.dnsName};
  proxy_ssl_session_reuse on;
  server { listen 127.0.0.1:${ports.egressH1} backlog=4096; proxy_pass 127.0.0.1:${ports.ingressH1}; }
  server { listen 127.0.0.1:${ports.egressH2} backlog=4096; proxy_pass 127.0.0.1:${ports.ingressH2}; }
}
`;
}

/** Renders the ingress sidecar's configuration. */
export function renderNginxIngress(ports: PeerPorts, pki: TestPki, runDir: string): string {
  return `${HEAD(runDir, 'ingress')}stream {
  proxy_connect_timeout 5s;
  proxy_timeout 120s;
  ssl_protocols TLSv1.3;
  ssl_certificate ${pki.workloadB.chain};
  ssl_certificate_key ${pki.workloadB.key};
  ssl_client_certificate ${pki.trustBundle};
  ssl_verify_client on;
  ssl_verify_depth 3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  server { listen 127.0.0.1:${ports.ingressH1} ssl backlog=4096; proxy_pass 127.0.0.1:${ports.upstreamH1}; }
  server { listen 127.0.0.1:${ports.ingressH2} ssl backlog=4096; proxy_pass 127.0.0.1:${ports.upstreamH2}; }
}
`;
}

/** nginx stream sidecars. */
export const nginxPeer: PeerAdapter = {
  name: 'nginx',
  availability(): Promise<PeerAvailability> {
    if (!commandExists('nginx')) return Promise.resolve({ ok: false, reason: 'nginx not installed (apt-get install nginx)' });
    if (!existsSync(NGINX_STREAM_MODULE)) return Promise.resolve({ ok: false, reason: `no stream module at ${NGINX_STREAM_MODULE} (apt-get install libnginx-mod-stream)` });
    const v = /nginx\/(\S+)/.exec(tryOutput('nginx', ['-v']) ?? '');
    return Promise.resolve({ ok: true, version: v?.[1] ?? 'unknown' });
  },
  start(ports, pki, cpuSet) {
    const side = (role: 'ingress' | 'egress', port: number) => (runDir: string) => {
      const prefix = join(runDir, `${role}-prefix`);
      mkdirSync(join(prefix, 'logs'), { recursive: true });
      const cfg = join(runDir, `${role}.conf`);
      writeFileSync(cfg, role === 'ingress' ? renderNginxIngress(ports, pki, runDir) : renderNginxEgress(ports, pki, runDir));
      // -e: early error log inside the run directory, not /var/log/nginx; -p: a private prefix.
      const proc = startProcess(`nginx ${role}`, 'nginx', ['-p', prefix, '-e', join(runDir, `${role}.log`), '-c', cfg], join(runDir, `${role}.out.log`), cpuSet);
      return { proc, ready: waitForPort(port, 5000, proc) };
    };
    return startSidecarPair('nginx', ports, side('ingress', ports.ingressH1), side('egress', ports.egressH1));
  },
};
