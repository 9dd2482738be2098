/**
 * Two real sidecars over loopback for the L7 tests (real sockets, real TLS, the pooled tunnel on): an ingress sidecar
 * (leaf `api`) in front of an HTTP/1.1 app, a gRPC (h2c) app, an L4 app and an HTTP app that only `db` may reach; an
 * egress sidecar (leaf `web`) with one `#http` egress entry per ingress entry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer as createH1Server, type IncomingHttpHeaders, type IncomingMessage, type Server as H1Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { systemClock } from '../../lib/clock.js';
import { PROXY_DEFAULTS, type ProxyConfig } from '../config.js';
import { startProxy, type RunningProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes: block `i` of 64 KiB is the same in every run and on both ends. */
export const BLOCK = randomBytes(64 * 1024);

/** What the HTTP/1.1 app saw. */
export interface AppLog {
  /** Request headers by path, last one wins. */
  readonly headers: Map<string, IncomingHttpHeaders>;
  /** Requests whose body ended early (the client side was cancelled). */
  aborted: number;
  /** Responses whose client went away before they finished. */
  cut: number;
  requests: number;
  /** TCP connections the app accepted (the ingress keeps its app connections alive across requests). */
  connections: number;
}

/**
 * The HTTP/1.1 app: `/headers` answers the request's headers as JSON; `/hash` the SHA-256 and length of the body;
 * `/big?blocks=N` streams N blocks with the hash in a trailer; `/close` answers with `Connection: close`; `/dup` answers two `Content-Type` fields; `/slow`
 * sends one block and then nothing; `/die` sends one block and resets.
 */
function h1App(log: AppLog): H1Server {
  const server = createH1Server((req: IncomingMessage, res: ServerResponse) => {
    log.requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    log.headers.set(url.pathname, req.headers);
    req.on('close', () => {
      if (!req.complete) log.aborted++;
    });
    res.on('close', () => {
      if (!res.writableFinished) log.cut++;
    });
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    req.on('end', () => {
      switch (url.pathname) {
        case '/headers':
          res.end(JSON.stringify(req.headers));
          return;
        case '/hash':
          res.end(`${h.digest('hex')} ${n}`);
          return;
        case '/dup':
          // Two values of a field HTTP/2 allows once (an app's sloppy answer, or one a request's fields steered).
          res.setHeader('content-type', ['text/plain', 'text/html']);
          res.end('dup');
          return;
        case '/close':
          res.writeHead(200, { connection: 'close' });
          res.end('bye');
          return;
        case '/big': {
          const blocks = Number(url.searchParams.get('blocks') ?? '1');
          const out = createHash('sha256');
          res.writeHead(200, { 'content-type': 'application/octet-stream', trailer: 'x-sha256' });
          let i = 0;
          const pump = (): void => {
            while (i < blocks) {
              i++;
              out.update(BLOCK);
              if (!res.write(BLOCK)) return void res.once('drain', pump);
            }
            res.addTrailers({ 'x-sha256': out.digest('hex') });
            res.end();
          };
          pump();
          return;
        }
        case '/slow':
          res.writeHead(200);
          res.write(BLOCK);
          return;
        case '/die':
          res.writeHead(200);
          res.write(BLOCK, () => setTimeout(() => res.socket?.destroy(), 50));
          return;
        default:
          res.end('hello');
      }
    });
  });
  server.on('connection', () => log.connections++);
  return server;
}

const bytes = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };

/** The gRPC service of the tests, with raw bytes as messages (no .proto needed). */
export const TEST_SERVICE: grpc.ServiceDefinition = {
  unary: { path: '/ccmesh.test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
  stream: { path: '/ccmesh.test.Echo/Stream', requestStream: false, responseStream: true, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
};

/** The generic client class of {@link TEST_SERVICE}. */
export const TestGrpcClient = grpc.makeGenericClientConstructor(TEST_SERVICE, 'Echo');

async function grpcApp(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(TEST_SERVICE, {
    // Unary: echoes; a request "fail" answers NOT_FOUND with details; trailing metadata x-end carries the length.
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-end', String(call.request.length));
      if (call.request.toString() === 'fail') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: md });
      cb(null, call.request, md);
    },
    // Server streaming: N messages of the request's bytes, N = the request's length, then trailing metadata.
    stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < call.request.length; i++) call.write(Buffer.concat([Buffer.from(String(i)), call.request]));
      const md = new grpc.Metadata();
      md.set('x-count', String(call.request.length));
      call.end(md);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** The running rig. */
export interface L7Rig {
  readonly mesh: TestMesh;
  readonly ingress: RunningProxy;
  readonly egress: RunningProxy;
  readonly log: AppLog;
  readonly l4: TestApp;
  readonly files: { web: { key: string; chain: string } };
  /** The egress listener port of entry `name` (web, grpc, l4, denied). */
  out(name: string): number;
  /** The ingress listener port of entry `name`. */
  in(name: string): number;
}

/** Starts the rig; everything is closed at teardown. */
export async function startL7Rig(t: { teardown(fn: () => unknown): void }, opts: { ingressTunnel?: boolean } = {}): Promise<L7Rig> {
  const mesh = await TestMesh.create();
  const web = await mesh.leaf(['web', 'web.default.svc']);
  const dirs = { web: writeTlsDir(web.files), api: writeTlsDir((await mesh.leaf(['api'])).files) };
  const log: AppLog = { headers: new Map(), aborted: 0, cut: 0, requests: 0, connections: 0 };
  const h1 = h1App(log);
  // Upgrade: echo: the app switches protocols and echoes every byte from then on (a stand-in for WebSocket).
  h1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    log.requests++;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  const h1Port = (h1.address() as AddressInfo).port;
  const g = await grpcApp();
  const l4 = new TestApp('hash');
  const l4Port = await l4.listen();
  const tunnel: ProxyConfig['tunnel'] = { ...PROXY_DEFAULTS.tunnel, enabled: true };
  const ingress = await startProxy(testConfig({
    tlsDir: dirs.api,
    tunnel: opts.ingressTunnel === false ? { ...tunnel, enabled: false } : tunnel,
    inbound: [
      { name: 'web', appPort: h1Port, listenPort: 0, mode: { kind: 'mtls', allow: [], protocol: 'http' } },
      { name: 'grpc', appPort: g.port, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'], protocol: 'h2c' } },
      { name: 'l4', appPort: l4Port, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'denied', appPort: h1Port, listenPort: 0, mode: { kind: 'mtls', allow: ['db.default.svc'], protocol: 'http' } },
    ],
  }), { clock: systemClock, logger: testLogger });
  const remote = (name: string): ProxyConfig['egress'][number] => ({ name, listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: ingress.ports.get(name)! }, identity: { kind: 'dns', value: 'api' }, identitySource: 'field', protocol: 'http' });
  const egress = await startProxy(testConfig({ tlsDir: dirs.web, tunnel, egress: ['web', 'grpc', 'l4', 'denied'].map(remote) }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await Promise.all([egress.drain(), ingress.drain()]);
    h1.closeAllConnections();
    await new Promise<void>((r) => h1.close(() => r()));
    g.server.forceShutdown();
    await l4.close();
    rmSync(dirs.web, { recursive: true, force: true });
    rmSync(dirs.api, { recursive: true, force: true });
  });
  return { mesh, ingress, egress, log, l4, files: { web: web.files }, out: (n) => egress.ports.get(n)!, in: (n) => ingress.ports.get(n)! };
}

/** Sum of a metric's values whose labels include `labels`. */
export { metricSum as metric } from './tunnel-client.js';
