/**
 * The app server behind every implementation: nginx on loopback serving /1k and /1m static bodies over HTTP/1.1
 * keep-alive on one port and HTTP/2 cleartext (prior knowledge) on another, one worker.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitForPort } from './processes.js';

/** Response bodies the scenarios request. */
export const BODIES = Object.freeze({ '1k': 1024, '1m': 1024 * 1024 });

/** A running app server. */
export interface Upstream {
  readonly pid: number;
  stop(): Promise<void>;
}

/** Renders the app server's nginx configuration. */
export function renderUpstreamConfig(h1Port: number, h2Port: number, runDir: string): string {
  const tmp = join(runDir, 'tmp');
  return `worker_processes 1;
daemon off;
master_process on;
pid ${runDir}/upstream.pid;
error_log ${runDir}/upstream.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8000; multi_accept on; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${h1Port} backlog=4096; root ${runDir}/www; }
  server { listen 127.0.0.1:${h2Port} http2 backlog=4096; root ${runDir}/www;
           http2_max_concurrent_streams 256; tcp_nopush off; sendfile off; }
}
`;
}

/** Starts the app server pinned to `cpuSet`; resolves once both ports accept connections. */
export async function startUpstream(h1Port: number, h2Port: number, cpuSet?: string): Promise<Upstream> {
  const runDir = mkdtempSync(join(tmpdir(), 'ccmesh-bench-upstream-'));
  // nginx workers run as an unprivileged user when started as root: the bodies must be world-readable.
  chmodSync(runDir, 0o755);
  mkdirSync(join(runDir, 'www'), { mode: 0o755 });
  mkdirSync(join(runDir, 'tmp'));
  mkdirSync(join(runDir, 'prefix', 'logs'), { recursive: true });
  for (const [name, size] of Object.entries(BODIES)) writeFileSync(join(runDir, 'www', name), Buffer.alloc(size, 'x'), { mode: 0o644 });
  const cfg = join(runDir, 'upstream.conf');
  writeFileSync(cfg, renderUpstreamConfig(h1Port, h2Port, runDir));
  const proc = startProcess('upstream nginx', 'nginx', ['-p', join(runDir, 'prefix'), '-e', join(runDir, 'upstream.log'), '-c', cfg], join(runDir, 'upstream.out.log'), cpuSet);
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    await waitForPort(h1Port, 5000, proc);
    await waitForPort(h2Port, 5000, proc);
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: proc.pid, stop };
}
