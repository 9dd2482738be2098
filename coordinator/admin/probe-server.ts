/**
 * Probes and metrics on their own port (9102): /probe/startup, /probe/liveness (never depends on the store), and
 * /probe/readiness (200 only in the ready state), plus /metrics. Nothing else is served there.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What the probes read. */
export interface ProbeSource {
  started(): boolean;
  ready(): boolean;
  /** Short state name for the readiness body ("fresh", "recovery", "ready"). */
  stateName(): string;
}

/** Starts the probe server on host:port; resolves when listening. */
export async function startProbeServer(host: string, port: number, source: ProbeSource, registry: Registry): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    switch (path) {
      case '/probe/startup':
        return source.started() ? send(200, 'started\n') : send(503, 'starting\n');
      case '/probe/liveness':
        return send(200, 'alive\n');
      case '/probe/readiness':
        return source.ready() ? send(200, 'ready\n') : send(503, `not ready: ${source.stateName()}\n`);
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
