/**
 * The L7 HTTP path between two sidecars over loopback (real sockets, real TLS, pooled tunnel): HTTP/1.1 keep-alive
 * and `Connection: close` from the app (the pooled connection stays), an h2c client, gRPC unary and server
 * streaming with trailers, 8 MiB bodies hash-checked both ways with a trailer, cancellation mid-body both ways, a
 * non-HTTP client on an `#http` listener, hop-by-hop hygiene, the allow-list per request, an L7 request to an L4 port
 * refused, and the per-port request metrics.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Agent, request as h1Request, type IncomingMessage } from 'node:http';
import { connect as h2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BLOCK, metric, sha, startL7Rig, TestGrpcClient } from './l7-rig.js';

interface H1Answer { status: number; body: Buffer; headers: IncomingMessage['headers']; trailers: NodeJS.Dict<string>; reused: boolean }

function get(port: number, path: string, opts: { agent?: Agent; method?: string; headers?: Record<string, string>; body?: Buffer[] } = {}): Promise<H1Answer> {
  return new Promise((resolve, reject) => {
    const req = h1Request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false, headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), headers: res.headers, trailers: res.trailers, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body === undefined) return void req.end();
    let i = 0;
    const pump = (): void => {
      while (i < opts.body!.length) {
        if (!req.write(opts.body![i++])) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

function raw(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => undefined);
    s.once('close', () => resolve(Buffer.concat(parts).toString('latin1')));
    s.write(text);
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

void t.test('HTTP/1.1: keep-alive, Connection: close from the app and its client, the pooled connection stays', async (t) => {
  const rig = await startL7Rig(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const port = rig.out('web');
  const a = await get(port, '/', { agent });
  const b = await get(port, '/', { agent });
  t.same([a.status, a.body.toString(), b.status, b.reused], [200, 'hello', 200, true], 'two requests over one kept-alive app connection');
  const close = await get(port, '/close', { agent });
  t.equal(close.status, 200);
  t.equal(close.headers.connection, 'keep-alive', "the app's Connection: close is its own hop's: the client keeps its connection");
  const c = await get(port, '/', { agent });
  t.ok(c.reused, 'the next request reuses the client connection');
  const d = await get(port, '/', { agent, headers: { connection: 'close' } });
  t.equal(d.headers.connection, 'close', "the client's Connection: close closes the client's connection");
  const e = await get(port, '/', { agent });
  t.notOk(e.reused, 'a new client connection after it');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections', { direction: 'outbound', state: 'active' }), 1, 'one pooled connection carried them all');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_connections', { direction: 'inbound', state: 'active' }), 1, 'and it is still open at the ingress');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connection_closes_total'), 0, 'no pooled connection was closed');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_http_requests_total', { direction: 'outbound', code_class: '2xx' }), 6, 'outbound requests counted by status class');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_http_requests_total', { direction: 'inbound', code_class: '2xx', port: String(rig.in('web')) }) + await metric(rig.ingress, 'ccmesh_proxy_http_requests_total', { direction: 'inbound', code_class: '2xx' }) > 0, true);
  t.ok(await metric(rig.ingress, 'ccmesh_proxy_http_request_duration_seconds', {}) > 0, 'the latency histogram observed them');
  // The ingress keeps its connection to the app: 20 more requests, one after another, open no new one (the app's
  // Connection: close above is the one reason it had to reconnect).
  const before = rig.log.connections;
  for (let i = 0; i < 20; i++) t.equal((await get(port, '/', { agent })).status, 200);
  t.equal(rig.log.connections, before, `the app accepted no new connection for 20 requests (${before} before)`);
});

void t.test('hop-by-hop and ccmesh-internal fields never reach the app; Host does', async (t) => {
  const rig = await startL7Rig(t);
  const r = await get(rig.out('web'), '/headers', { headers: { connection: 'x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'proxy-authorization': 'secret', 'ccmesh-port': '22', 'x-ccmesh-peer': 'admin', te: 'gzip', 'x-end-to-end': 'kept', host: 'web.example:8080' } });
  const seen = JSON.parse(r.body.toString()) as Record<string, string>;
  for (const h of ['x-hop', 'keep-alive', 'proxy-authorization', 'ccmesh-port', 'x-ccmesh-peer', 'te']) t.notOk(h in seen, `${h} is not forwarded`);
  t.equal(seen['x-end-to-end'], 'kept', 'end-to-end fields are');
  t.equal(seen.host, 'web.example:8080', "the client's Host is the app's Host");
});

void t.test('h2c client, and 8 MiB bodies hash-checked both ways with a trailer', async (t) => {
  const rig = await startL7Rig(t);
  const s: ClientHttp2Session = h2Connect(`http://127.0.0.1:${rig.out('web')}`);
  t.teardown(() => s.close());
  const hello = await new Promise<string>((resolve) => {
    const r = s.request({ ':path': '/' });
    let body = '';
    r.setEncoding('utf8');
    r.on('data', (d: string) => (body += d));
    r.on('end', () => resolve(body));
    r.end();
  });
  t.equal(hello, 'hello', 'an h2c (prior knowledge) client is served');
  const blocks = 128;
  const want = sha(Buffer.concat(Array.from({ length: blocks }, () => BLOCK)));
  const up = await get(rig.out('web'), '/hash', { method: 'POST', body: Array.from({ length: blocks }, () => BLOCK) });
  t.equal(up.body.toString(), `${want} ${blocks * BLOCK.length}`, 'a chunked 8 MiB request body arrives whole');
  const down = await get(rig.out('web'), `/big?blocks=${blocks}`);
  t.equal(sha(down.body), want, 'an 8 MiB response body arrives whole');
  t.equal(down.trailers['x-sha256'], want, "the app's response trailer arrives");
  const h2down = await new Promise<{ hash: string; trailers: IncomingHttpHeaders }>((resolve) => {
    const r = s.request({ ':path': `/big?blocks=${blocks}` });
    const h = createHash('sha256');
    let trailers: IncomingHttpHeaders = {};
    r.on('data', (d: Buffer) => h.update(d));
    r.on('trailers', (tr: IncomingHttpHeaders) => (trailers = tr));
    r.on('end', () => resolve({ hash: h.digest('hex'), trailers }));
    r.end();
  });
  t.same([h2down.hash, h2down.trailers['x-sha256']], [want, want], 'the same over h2c, trailer included');
});

void t.test('gRPC unary and server streaming with trailers and statuses (grpc-js both ends)', async (t) => {
  const rig = await startL7Rig(t);
  const client = new TestGrpcClient(`127.0.0.1:${rig.out('grpc')}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  t.teardown(() => client.close());
  const unary = (msg: string): Promise<{ err: grpc.ServiceError | null; value: Buffer | undefined; trailing: grpc.Metadata | undefined }> => new Promise((resolve) => {
    let answer: { err: grpc.ServiceError | null; value: Buffer | undefined } | undefined;
    const call = client.unary!(Buffer.from(msg), (err: grpc.ServiceError | null, value?: Buffer) => (answer = { err, value })) as grpc.ClientUnaryCall;
    // grpc-js calls back before it emits the status with the trailing metadata.
    call.on('status', (st: grpc.StatusObject) => setImmediate(() => resolve({ ...answer!, trailing: st.metadata })));
  });
  const ok = await unary('ping');
  t.equal(ok.err, null);
  t.equal(ok.value?.toString(), 'ping', 'unary echo');
  t.same(ok.trailing?.get('x-end'), ['4'], 'trailing metadata arrives');
  const bad = await unary('fail');
  t.equal(bad.err?.code, grpc.status.NOT_FOUND, 'an error status arrives');
  t.equal(bad.err?.details, 'no such thing');
  const streamed = await new Promise<{ msgs: string[]; status: grpc.StatusObject }>((resolve) => {
    const msgs: string[] = [];
    const call = client.stream!(Buffer.from('abcdefghij')) as grpc.ClientReadableStream<Buffer>;
    call.on('data', (m: Buffer) => msgs.push(m.toString()));
    call.on('status', (status: grpc.StatusObject) => resolve({ msgs, status }));
    call.on('error', () => undefined);
  });
  t.equal(streamed.msgs.length, 10, 'every streamed message');
  t.equal(streamed.msgs[9], '9abcdefghij');
  t.equal(streamed.status.code, grpc.status.OK);
  t.same(streamed.status.metadata.get('x-count'), ['10'], 'the stream ends with its trailers');
});

void t.test('cancellation mid-body both ways', async (t) => {
  const rig = await startL7Rig(t);
  const port = rig.out('web');
  await get(port, '/');
  // The client goes away mid-upload: the app's request is aborted.
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  s.write('POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n');
  s.write(BLOCK);
  t.ok(await until(() => rig.log.requests >= 2), 'the upload reached the app');
  s.destroy();
  t.ok(await until(() => rig.log.aborted >= 1), "the app's request is aborted when the client leaves mid-body");
  // The same with a chunked body: the app must not see a complete (truncated) request.
  const c = connect({ host: '127.0.0.1', port });
  c.on('error', () => undefined);
  c.write('POST /hash HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  c.write(`${BLOCK.length.toString(16)}\r\n`);
  c.write(BLOCK);
  c.write('\r\n');
  t.ok(await until(() => rig.log.requests >= 3), 'the chunked upload reached the app');
  c.destroy();
  t.ok(await until(() => rig.log.aborted >= 2), "a chunked upload cut mid-body is aborted at the app, not completed");
  // The client goes away mid-download: the app's response is cut.
  await new Promise<void>((resolve) => {
    const req = h1Request({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
  t.ok(await until(() => rig.log.cut >= 1), "the app's response is cut when the client leaves mid-body");
  // The app dies mid-response: the client sees a truncated answer, not a complete one.
  const outcome = await new Promise<string>((resolve) => {
    const req = h1Request({ host: '127.0.0.1', port, path: '/die', agent: false }, (res) => {
      res.on('data', () => undefined);
      res.once('end', () => resolve('complete'));
      res.once('aborted', () => resolve('aborted'));
      res.once('error', () => resolve('aborted'));
    });
    req.on('error', () => resolve('aborted'));
    req.end();
  });
  t.equal(outcome, 'aborted', "the app's reset reaches the client");
  // Over h2c: the app's reset becomes a stream reset.
  const h2 = h2Connect(`http://127.0.0.1:${port}`);
  t.teardown(() => h2.close());
  const rst = await new Promise<number>((resolve) => {
    const r = h2.request({ ':path': '/die' });
    r.on('data', () => undefined);
    r.on('error', () => undefined);
    r.once('close', () => resolve(r.rstCode ?? -1));
    r.end();
  });
  t.not(rst, 0, "the h2c client's stream is reset, not ended");
  t.ok(await until(async () => await metric(rig.egress, 'ccmesh_proxy_http_requests_total', { direction: 'outbound', code_class: 'cancelled' }) >= 2), 'cancelled requests are counted as such');
});

void t.test('a non-HTTP client on an #http listener gets 400 and a close; smuggling is refused; the listener keeps serving', async (t) => {
  const rig = await startL7Rig(t);
  const port = rig.out('web');
  const tlsHello = Buffer.from('16030100c8010000c40303', 'hex');
  t.match(await raw(port, tlsHello), /^HTTP\/1\.1 400 /, 'TLS bytes: 400');
  t.match(await raw(port, 'SSH-2.0-OpenSSH_9.6\r\n'), /^HTTP\/1\.1 400 /, 'SSH banner: 400');
  t.match(await raw(port, 'POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), /^HTTP\/1\.1 400 /, 'Content-Length with Transfer-Encoding: 400');
  t.match(await raw(port, 'POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello'), /^HTTP\/1\.1 400 /, 'conflicting Content-Length: 400');
  t.match(await raw(port, 'POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'), /^HTTP\/1\.1 400 /, 'negative Content-Length: 400');
  t.equal(rig.log.requests, 0, 'none of them reached the app');
  t.equal((await get(port, '/')).status, 200, 'the listener still serves');
});

void t.test('allow-list per request, and an L7 request to an L4 port is refused', async (t) => {
  const rig = await startL7Rig(t);
  // The pooled connection to denied's listener is refused by that listener's identity gate (its handshake), so the
  // request has no pooled connection: 502. The per-request check over another port's connection is in attack-l7.
  t.equal((await get(rig.out('denied'), '/')).status, 502, 'web is not on the allow-list of denied: no pooled connection, 502');
  t.equal((await get(rig.out('l4'), '/')).status, 403, 'an L7 request to an L4 port: 403');
  t.equal(rig.log.requests, 0, 'neither reached an app');
  t.equal(rig.l4.connections, 0, 'the L4 app saw nothing');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tls_handshake_failures_total', { reason: 'san-not-allowed' }), 1, 'refused at the handshake');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'not-http-port' }), 1);
  t.equal(await metric(rig.egress, 'ccmesh_proxy_http_requests_total', { direction: 'outbound', code_class: '4xx' }), 1, 'the 403 counted as 4xx');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_http_requests_total', { direction: 'outbound', code_class: '5xx' }), 1, 'the 502 as 5xx');
});

void t.test('a peer without the tunnel: an #http entry falls back to per-connection mTLS, bytes unparsed', async (t) => {
  const rig = await startL7Rig(t, { ingressTunnel: false });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const a = await get(rig.out('web'), '/', { agent });
  const b = await get(rig.out('web'), '/headers', { agent, headers: { 'x-hop': 'kept-as-is', connection: 'x-hop' } });
  t.same([a.status, a.body.toString(), b.status], [200, 'hello', 200]);
  t.equal((JSON.parse(b.body.toString()) as Record<string, string>)['x-hop'], 'kept-as-is', 'the bytes passed unparsed (L4)');
  t.ok(await metric(rig.egress, 'ccmesh_proxy_tunnel_fallbacks_total', { reason: 'peer-without-tunnel' }) >= 1, 'counted as a fallback');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_http_requests_total'), 0, 'no L7 request was made');
});

void t.test('Upgrade after a kept-alive request: the connection becomes a tunnel stream, bytes echo both ways', async (t) => {
  const rig = await startL7Rig(t);
  const s = connect({ host: '127.0.0.1', port: rig.out('web') });
  s.on('error', () => undefined);
  t.teardown(() => s.destroy());
  let got = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => (got += d));
  s.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n');
  t.ok(await until(() => got.includes('hello')), 'an ordinary request first');
  s.write('GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly');
  t.ok(await until(() => got.includes('101 Switching Protocols')), 'the app switched protocols');
  t.ok(await until(() => got.endsWith('early')), 'bytes sent right behind the head arrive');
  s.write('ping');
  t.ok(await until(() => got.endsWith('earlyping')), 'and later ones echo back');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_streams_open', { direction: 'outbound' }), 1, 'it rides a CONNECT stream');
});

void t.test('h2c and gRPC cancellation: a client reset mid-upload aborts the app request; a cancelled gRPC stream ends on the app', async (t) => {
  const rig = await startL7Rig(t);
  const h2 = h2Connect(`http://127.0.0.1:${rig.out('web')}`);
  t.teardown(() => h2.close());
  const r = h2.request({ ':method': 'POST', ':path': '/hash' });
  r.on('error', () => undefined);
  r.write(BLOCK);
  t.ok(await until(() => rig.log.requests >= 1), 'the upload reached the app');
  // The client's connection dies mid-upload (node's stream.close() would send END_STREAM before its RST_STREAM, a
  // complete request followed by a cancel).
  h2.destroy();
  t.ok(await until(() => rig.log.aborted >= 1), "the h2c client's loss aborts the app's request");
  const client = new TestGrpcClient(`127.0.0.1:${rig.out('grpc')}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  t.teardown(() => client.close());
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    const call = client.stream!(Buffer.alloc(200, 1)) as grpc.ClientReadableStream<Buffer>;
    call.once('data', () => call.cancel());
    call.on('error', () => undefined);
    call.on('status', resolve);
  });
  t.equal(status.code, grpc.status.CANCELLED, 'the gRPC client sees its own cancellation');
  t.ok(await until(async () => await metric(rig.ingress, 'ccmesh_proxy_http_requests_total', { direction: 'inbound', code_class: 'cancelled' }) >= 2), 'the ingress counts both as cancelled');
});
