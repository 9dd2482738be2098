/**
 * The small HTTP server every ccmesh process exposes for probes and Prometheus: GET only, plain-text probe
 * answers, `/metrics` from a prom-client registry (or an aggregate), short timeouts, nothing else served. Each unit
 * supplies its probe paths; the serving, binding and closing live here once.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';

/** What a probe answers: 200 with `body`, or 503 with `body`. */
export interface ProbeAnswer {
  readonly ok: boolean;
  readonly body: string;
}

/** What /metrics serves: a registry, or an aggregate with the same two members. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/** A running admin server. */
export interface RunningAdminHttp {
  readonly port: number;
  close(): Promise<void>;
}

/** A probe handler: answers at once, or later (an app probe the sidecar runs on loopback). */
export type ProbeHandler = () => ProbeAnswer | Promise<ProbeAnswer>;

/** Starts the server on host:port (0 = any free port); `probes` maps a path to its answer. */
export async function startAdminHttp(
  host: string,
  port: number,
  probes: Readonly<Record<string, ProbeHandler>>,
  metrics: MetricsSource,
): Promise<RunningAdminHttp> {
  const waiting = new WeakSet<Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    if (path === '/metrics') {
      metrics.metrics().then(
        (text) => send(200, text, metrics.contentType),
        (err: unknown) => send(500, `metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    const probe = Object.hasOwn(probes, path) ? probes[path] : undefined;
    if (!probe) return send(404, 'not found\n');
    const answer = probe();
    if (!(answer instanceof Promise)) return send(answer.ok ? 200 : 503, answer.body + '\n');
    // SECURITY: Node pauses a connection's pipelined requests only once its answers hold bytes, and a waiting answer
    // holds none: without this, one connection pipelining a probe path kept a request and a response per call until
    // the probe ended (hundreds of MiB a second). One waiting answer per connection; the rest are answered at once.
    const socket = req.socket;
    if (waiting.has(socket)) {
      answer.then(undefined, () => undefined);
      return send(503, 'probe busy: one probe answer at a time per connection\n');
    }
    waiting.add(socket);
    answer.then(
      (a) => {
        waiting.delete(socket);
        if (!res.destroyed) send(a.ok ? 200 : 503, a.body + '\n');
      },
      () => {
        waiting.delete(socket);
        if (!res.destroyed) send(503, 'probe failed\n');
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
