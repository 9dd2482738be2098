/**
 * The admin server (port 15020): `/live` (the process answers), `/ready` (200 only while the sidecar should get
 * traffic — see {@link Readiness}), `/metrics`. Nothing else is served, and it never touches the data path.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { closeServer, listenOn } from '../data/listen.js';

/** What /ready reports: undefined when ready, else a short reason from a closed set. */
export interface Readiness {
  notReadyReason(): string | undefined;
}

/** What /metrics serves: a registry, or the `--workers` primary's aggregate over its workers. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/** A running admin server. */
export interface RunningAdmin {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the admin server on host:port. */
export async function startAdminServer(host: string, port: number, readiness: Readiness, registry: MetricsSource): Promise<RunningAdmin> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    switch (path) {
      case '/live':
        return send(200, 'alive\n');
      case '/ready': {
        const reason = readiness.notReadyReason();
        return reason === undefined ? send(200, 'ready\n') : send(503, `not ready: ${reason}\n`);
      }
      case '/metrics':
        registry.metrics().then(
          (text) => send(200, text, registry.contentType),
          (err: unknown) => send(500, `metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
        );
        return;
      default:
        return send(404, 'not found\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  const bound = await listenOn(server, host, port, 'admin server');
  return {
    port: bound,
    close: async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  };
}
