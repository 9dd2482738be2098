/**
 * Test double for AMD KDS and Intel PCS: a real HTTP server on 127.0.0.1 (port 0) whose answers a test
 * scripts per request. It records every path it was asked for, so tests can assert URLs and count hits
 * (cache hits, retries, coalescing) without any test touching the internet. Not used outside tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer. */
export interface FakeReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  /** Waits this long before answering. */
  readonly delayMs?: number;
  /** Never answers; the client's timeout must fire. */
  readonly hang?: boolean;
  /** Sends headers, then this many bytes of chunked body without Content-Length, as fast as the client reads. */
  readonly streamBytes?: number;
  /** Sends headers and one byte of body every `dripMs`, forever. */
  readonly dripMs?: number;
}

/** Chooses the reply to a request path (with query), given how many requests came before it. */
export type FakeRoute = (path: string, index: number) => FakeReply;

/** A scripted loopback HTTP server standing in for KDS and PCS. */
export class FakeCollateralServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Paths (with query) in arrival order. */
  readonly paths: string[];
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed: Promise<void> | undefined;

  private constructor(server: Server, paths: string[]) {
    this.#server = server;
    this.paths = paths;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Starts a server answering with `route`. */
  static async start(route: FakeRoute): Promise<FakeCollateralServer> {
    const paths: string[] = [];
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const fake = new FakeCollateralServer(server, paths);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '';
      paths.push(path);
      fake.#answer(res, route(path, paths.length - 1));
    });
    return fake;
  }

  /** Number of requests received. */
  get hits(): number {
    return this.paths.length;
  }

  /** Stops answering, drops every open connection and waits for the server to close; idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve, reject) => {
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      this.#server.close((err) => (err ? reject(err) : resolve()));
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #answer(res: ServerResponse, reply: FakeReply): void {
    // The client may hang up mid-body on purpose (size cap, timeout); that is not a server failure.
    res.on('error', () => undefined);
    if (reply.hang) return;
    if (reply.delayMs !== undefined) {
      const { delayMs: _skip, ...rest } = reply;
      this.#later(reply.delayMs, () => this.#answer(res, rest));
      return;
    }
    res.statusCode = reply.status ?? 200;
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
    if (reply.streamBytes !== undefined) {
      this.#stream(res, reply.streamBytes);
      return;
    }
    if (reply.dripMs !== undefined) {
      const dripMs = reply.dripMs;
      res.flushHeaders();
      const drip = (): void => {
        if (res.destroyed) return;
        res.write('x');
        this.#later(dripMs, drip);
      };
      drip();
      return;
    }
    res.end(reply.body === undefined ? undefined : Buffer.from(reply.body));
  }

  #stream(res: ServerResponse, total: number): void {
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !res.destroyed) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!res.write(chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }
}
