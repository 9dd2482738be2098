/**
 * The pooled tunnel between two sidecars over loopback (real sockets, real TLS): bulk both ways hash-checked,
 * half-close both ways, resets both ways, 1 000 concurrent streams on the pool, a slow reader bounded in memory and not
 * blocking its neighbours, limits (streams per connection, pool size), per-stream allow-lists over one pooled
 * connection, the identity gate on the pooled connection, ALPN only on mTLS listeners, fallback to per-connection mTLS
 * both ways, and the drain of pooled connections when credentials or trust change.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect as h2Connect, constants as h2c, createServer as createH2Server, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { bindDefinesDeprecatedAccessor, leanAsyncBindActive } from '../../lib/process/async-bind.js';
import { PROXY_DEFAULTS, type ProxyConfig, type TunnelConfig } from '../config.js';
import { HIGH_WATER_MARK } from '../transport/options.js';
import { MAX_STREAM_WINDOW, TUNNEL_ALPN } from '../tunnel/protocol.js';
import { streamBufferedBytes } from '../tunnel/stream-splice.js';
import { startProxy, type RunningProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp, testConfig, testLogger } from './support.js';
import { metricSum, tunnelTls } from './tunnel-client.js';

/** Read before any sidecar starts in this process: does the runtime's own AsyncResource.bind carry the costly accessor? */
const runtimeBindHasAccessor = bindDefinesDeprecatedAccessor();

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** An app whose accepted sockets the test drives itself. */
class ControlApp {
  readonly server: Server;
  readonly sockets: Socket[] = [];
  readonly #waiters: ((s: Socket) => void)[] = [];

  constructor() {
    this.server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      this.sockets.push(s);
      const w = this.#waiters.shift();
      if (w) w(s);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  /** The next accepted socket (or one already accepted and not yet taken). */
  next(taken: number): Promise<Socket> {
    const s = this.sockets[taken];
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Rig {
  readonly mesh: TestMesh;
  readonly ingress: RunningProxy;
  readonly egress: RunningProxy;
  readonly hash: TestApp;
  readonly echo: TestApp;
  readonly denied: TestApp;
  readonly ctl: ControlApp;
  readonly dirs: { web: string; api: string };
  /** The egress listener port of entry `name`. */
  out(name: string): number;
  /** The ingress listener port of entry `name`. */
  in(name: string): number;
}

async function startRig(t: { teardown(fn: () => unknown): void }, opts: { ingressTunnel?: Partial<TunnelConfig>; egressTunnel?: Partial<TunnelConfig>; webLifetimeMs?: number } = {}): Promise<Rig> {
  const mesh = await TestMesh.create();
  const dirs = { web: writeTlsDir((await mesh.leaf(['web', 'web.default.svc'], opts.webLifetimeMs === undefined ? {} : { lifetimeMs: opts.webLifetimeMs })).files), api: writeTlsDir((await mesh.leaf(['api'])).files) };
  const hash = new TestApp('hash');
  const echo = new TestApp('echo');
  const denied = new TestApp('hash');
  const ctl = new ControlApp();
  const [hashPort, echoPort, deniedPort, ctlPort] = [await hash.listen(), await echo.listen(), await denied.listen(), await ctl.listen()];
  const tunnel = (over: Partial<TunnelConfig> | undefined): ProxyConfig['tunnel'] => ({ ...PROXY_DEFAULTS.tunnel, enabled: true, ...over });
  const ingress = await startProxy(testConfig({
    tlsDir: dirs.api,
    tunnel: tunnel(opts.ingressTunnel),
    inbound: [
      { name: 'hash', appPort: hashPort, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'] } },
      { name: 'echo', appPort: echoPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'denied', appPort: deniedPort, listenPort: 0, mode: { kind: 'mtls', allow: ['db.default.svc'] } },
      { name: 'ctl', appPort: ctlPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'tls', appPort: echoPort, listenPort: 0, mode: { kind: 'tls' } },
    ],
  }), { clock: systemClock, logger: testLogger });
  const remote = (name: string): ProxyConfig['egress'][number] => ({ name, listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: ingress.ports.get(name)! }, identity: { kind: 'dns', value: 'api' }, identitySource: 'field' });
  const egress = await startProxy(testConfig({
    tlsDir: dirs.web,
    tunnel: tunnel(opts.egressTunnel),
    egress: ['hash', 'echo', 'denied', 'ctl'].map(remote),
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await Promise.all([egress.drain(), ingress.drain()]);
    await Promise.all([hash.close(), echo.close(), denied.close(), ctl.close()]);
    rmSync(dirs.web, { recursive: true, force: true });
    rmSync(dirs.api, { recursive: true, force: true });
  });
  return { mesh, ingress, egress, hash, echo, denied, ctl, dirs, out: (n) => egress.ports.get(n)!, in: (n) => ingress.ports.get(n)! };
}

const metric = metricSum;

/** {@link metric} once it equals `want`, or its value after 5 s (stream counters move when both ends have closed). */
async function settled(p: RunningProxy, name: string, labels: Record<string, string>, want: number): Promise<number> {
  const until = Date.now() + 5000;
  for (;;) {
    const v = await metric(p, name, labels);
    if (v === want || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `total` bytes of `block` with backpressure, then ends (unless `end` is false). */
function sendAll(s: Socket, block: Buffer, times: number, end = true): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    const pump = (): void => {
      while (i < times) {
        i++;
        if (!s.write(block)) return void s.once('drain', pump);
      }
      if (end) s.end();
      resolve();
    };
    pump();
  });
}

/** Resolves with the error code a socket closed with ('' for a clean close). */
function closedWith(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let code = '';
    s.on('error', (e: Error & { code?: string }) => (code = e.code ?? 'error'));
    s.once('close', () => resolve(code));
  });
}

async function echoOnce(port: number, text: string): Promise<string> {
  const s = await open(port);
  const got = readAll(s);
  s.end(text);
  return (await got).toString();
}

void t.test('bulk both ways and half-close both ways over one pooled connection', async (t) => {
  const rig = await startRig(t);
  t.equal(leanAsyncBindActive(), runtimeBindHasAccessor, 'the sidecar replaced a runtime AsyncResource.bind that carries the deprecated accessor (one per tunnel stream)');
  // Client → app, the client half-closes first; the app answers after our FIN.
  const block = randomBytes(1024 * 1024);
  const expected = createHash('sha256');
  for (let i = 0; i < 24; i++) expected.update(block);
  const up = await open(rig.out('hash'));
  const answer = readAll(up);
  await sendAll(up, block, 24);
  t.equal((await answer).toString(), `${expected.digest('hex')} ${24 * 1024 * 1024}\n`, '24 MiB client → app byte-identical; the answer travels after the client half-closed');

  // App → client, the app half-closes first; the client keeps sending afterwards and the app gets every byte.
  const down = await open(rig.out('ctl'));
  const appSide = await rig.ctl.next(0);
  const payload = randomBytes(20 * 1024 * 1024 + 17);
  const clientGot = readAll(down);
  appSide.end(payload);
  t.equal(sha(await clientGot), sha(payload), '20 MiB app → client byte-identical, ended by the app first');
  t.notOk(down.writableEnded, "the client's direction is still open");
  const late = randomBytes(3 * 1024 * 1024);
  const appGot = readAll(appSide);
  down.end(late);
  t.equal(sha(await appGot), sha(late), 'bytes sent after the other side half-closed arrive, then the end');

  t.equal(await settled(rig.egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'ok' }, 2), 2, 'both went as tunnel streams');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections'), 2, 'over one pooled connection per destination (two destinations)');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_fallbacks_total'), 0, 'no fallback');
  t.equal(await settled(rig.ingress, 'ccmesh_proxy_connections_total', { result: 'ok' }, 2), 2, 'the ingress counts the streams on the listeners they reached');
  // Labelled as per-connection ones: the other side's verified workload (spiffe://ccmesh.local/web and …/api), the
  // egress remote's port outbound, the route's app port inbound (never `other`: all are route ports).
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_connections_total', { direction: 'inbound', peer: 'web', result: 'ok' }), 2, 'inbound: both streams from the web workload');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_connections_total', { direction: 'outbound', port: String(rig.in('hash')), peer: 'api', result: 'ok' }), 1, 'outbound: one to the hash remote\'s port, served by the api workload');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_connections_total', { direction: 'outbound', port: String(rig.in('ctl')), peer: 'api', result: 'ok' }), 1, 'and one to the ctl remote\'s port');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_received_bytes_total', { peer: 'web' }), 24 * 1024 * 1024 + 3 * 1024 * 1024, 'the bytes the app received carry the peer label too');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_connections_total', { port: 'other' }) + await metric(rig.egress, 'ccmesh_proxy_connections_total', { port: 'other' }), 0, 'nothing on port "other"');
  const lifetimes = (await rig.ingress.metrics.connectionSeconds.get()).values.filter((v) => v.metricName === 'ccmesh_proxy_connection_duration_seconds_count' && v.labels.result === 'ok');
  t.equal(lifetimes.reduce((n, v) => n + v.value, 0), 2, 'each stream\'s lifetime observed once on the ingress');
});

void t.test('a reset travels both ways as a reset', async (t) => {
  const rig = await startRig(t);
  // Client resets: the app sees ECONNRESET, not a clean end.
  const c1 = await open(rig.out('ctl'));
  c1.write('x');
  const a1 = await rig.ctl.next(0);
  const a1Closed = closedWith(a1);
  await new Promise((r) => a1.once('data', r));
  c1.resetAndDestroy();
  t.equal(await a1Closed, 'ECONNRESET', "the client's RST reaches the app as a RST");

  // App resets: the client sees ECONNRESET.
  const c2 = await open(rig.out('ctl'));
  c2.write('y');
  const a2 = await rig.ctl.next(1);
  await new Promise((r) => a2.once('data', r));
  const c2Closed = closedWith(c2);
  c2.resume();
  a2.resetAndDestroy();
  t.equal(await c2Closed, 'ECONNRESET', "the app's RST reaches the client as a RST");
  t.equal(await settled(rig.egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'error' }, 2), 2, 'both counted as failed streams');

  // The pooled connection survived both resets.
  t.equal(await echoOnce(rig.out('echo'), 'still here'), 'still here', 'other streams keep working');
});

void t.test('1 000 concurrent streams', async (t) => {
  // The default 128 streams per pooled connection (SESSION_WINDOW_BUDGET): 1 000 streams need 8 pooled connections.
  const POOL = 8;
  const rig = await startRig(t, { egressTunnel: { poolSize: POOL } });
  const N = 1000;
  const sockets = await Promise.all(Array.from({ length: N }, () => open(rig.out('echo'))));
  const answers = sockets.map((s, i) => new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.endsWith('\n')) resolve(got);
    });
    s.once('error', reject);
    s.write(`hello ${i}\n`);
  }));
  const got = await Promise.all(answers);
  t.ok(got.every((g, i) => g === `hello ${i}\n`), 'every stream echoed its own line');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_streams_open', { direction: 'outbound' }), N, '1 000 streams open at once');
  t.ok(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections') <= POOL, 'on at most --tunnel-pool connections');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_fallbacks_total'), 0, 'none fell back');
  await Promise.all(sockets.map((s) => {
    const done = readAll(s);
    s.end();
    return done;
  }));
  t.equal(await settled(rig.egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'ok' }, N), N, 'all ended cleanly');
});

void t.test('limits: streams per connection and pool size; beyond them, per-connection mTLS', async (t) => {
  const rig = await startRig(t, { egressTunnel: { poolSize: 2, maxStreams: 3 }, ingressTunnel: { maxStreams: 3 } });
  const sockets = await Promise.all(Array.from({ length: 8 }, () => open(rig.out('echo'))));
  const got = await Promise.all(sockets.map(async (s, i) => {
    const line = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
    s.write(`n${i}`);
    return line;
  }));
  t.same(got, sockets.map((_, i) => `n${i}`), 'all eight connections work');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections'), 2, 'two pooled connections (--tunnel-pool 2)');
  t.equal(await settled(rig.egress, 'ccmesh_proxy_tunnel_streams_open', { direction: 'outbound' }, 6), 6, 'three streams on each');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_fallbacks_total', { reason: 'pool-full' }), 2, 'the other two went per-connection');
  for (const s of sockets) s.destroy();
});

void t.test('a slow reader: bounded buffers, and its neighbours keep flowing', async (t) => {
  const rig = await startRig(t);
  const s = await open(rig.out('ctl'));
  const block = randomBytes(1024 * 1024);
  void sendAll(s, block, 32);
  const app = await rig.ctl.next(0);
  app.pause();
  await new Promise((r) => setTimeout(r, 1500));
  const held = streamBufferedBytes();
  t.equal(held.links, 2, 'one stream link on each sidecar');
  const bound = MAX_STREAM_WINDOW + 4 * HIGH_WATER_MARK;
  t.ok(held.bytes <= bound, `both sidecars hold ${held.bytes} bytes for the stalled stream (bound: one stream window + four 64 KiB buffers = ${bound}; 32 MiB were sent)`);
  t.ok(s.bytesWritten < 32 * 1024 * 1024, 'the sender is held back');
  // Another stream on the same pooled connection is not blocked by the stalled one.
  const neighbour = await open(rig.out('ctl'));
  const other = await rig.ctl.next(1);
  other.pipe(other);
  const echoed = readAll(neighbour);
  await sendAll(neighbour, block, 4);
  t.equal((await echoed).length, 4 * 1024 * 1024, 'a neighbour stream on the same pooled connection moves 4 MiB meanwhile');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections'), 1, 'both streams share one pooled connection');
  const got = createHash('sha256');
  let n = 0;
  app.on('data', (d: Buffer) => {
    got.update(d);
    n += d.length;
  });
  const ended = new Promise((r) => app.once('end', r));
  app.resume();
  await ended;
  const want = createHash('sha256');
  for (let i = 0; i < 32; i++) want.update(block);
  t.equal(n, 32 * 1024 * 1024, 'every byte arrives once the reader resumes');
  t.equal(got.digest('hex'), want.digest('hex'), 'byte-identical');
  app.end();
});

/** A raw tunnel client: mTLS to `port` with `files`' leaf, offering the tunnel ALPN. */
async function rawTunnel(mesh: TestMesh, port: number, files: { key: string; chain: string }): Promise<{ tls: TLSSocket; session: ClientHttp2Session }> {
  const tls = await tunnelTls(mesh, port, files);
  const session = h2Connect('http://x', { createConnection: () => tls });
  session.on('error', () => undefined);
  return { tls, session };
}

/** Opens a CONNECT stream to `authority`; resolves with the response status, or 0 when the stream/session died first. */
function connectStatus(session: ClientHttp2Session, authority: string): Promise<number> {
  return new Promise((resolve) => {
    let h;
    try {
      h = session.request({ ':method': 'CONNECT', ':authority': authority });
    } catch {
      return resolve(0);
    }
    h.on('error', () => undefined);
    h.once('response', (hd) => resolve(Number(hd[':status'])));
    h.once('close', () => resolve(0));
  });
}

void t.test('per-stream allow-lists over one pooled connection', async (t) => {
  const rig = await startRig(t);
  const web = (await rig.mesh.leaf(['web.default.svc'])).files;
  const { tls, session } = await rawTunnel(rig.mesh, rig.in('hash'), web);
  t.teardown(() => session.destroy());
  t.equal(tls.alpnProtocol, TUNNEL_ALPN, 'the mTLS listener negotiated the tunnel');
  t.equal(await connectStatus(session, `127.0.0.1:${rig.in('hash')}`), 200, 'allowed on the hash port');
  t.equal(await connectStatus(session, `127.0.0.1:${rig.in('denied')}`), 403, 'refused on the denied port over the same connection');
  t.equal(await connectStatus(session, `127.0.0.1:${rig.in('echo')}`), 200, 'any mesh identity on the echo port');
  t.equal(await connectStatus(session, `127.0.0.1:1`), 403, 'a port nobody serves is refused');
  t.equal(await connectStatus(session, `10.0.0.1:${rig.in('echo')}`), 400, 'an authority other than 127.0.0.1:PORT is refused');
  t.equal(rig.denied.connections, 0, 'the denied app never saw a connection');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'san-not-allowed' }), 1, 'counted san-not-allowed');

  // Through the egress sidecar too: the app connection is reset, the denied app never sees it.
  const s = await open(rig.out('denied'));
  const closed = closedWith(s);
  s.write('nope');
  t.equal(await closed, 'ECONNRESET', 'a refused stream is a reset for the client');
  t.equal(rig.denied.connections, 0, 'still no connection at the denied app');
});

void t.test('the pooled connection passes the identity gate; tls listeners never offer the tunnel', async (t) => {
  const rig = await startRig(t);
  const foreign = await TestMesh.create();
  const stranger = (await foreign.leaf(['web.default.svc'])).files;
  const tls = tlsConnect({ host: '127.0.0.1', port: rig.in('echo'), key: stranger.key, cert: stranger.chain, ca: rig.mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
  tls.on('error', () => undefined);
  const closed = new Promise((r) => tls.once('close', r));
  tls.once('secureConnect', () => {
    const session = h2Connect('http://x', { createConnection: () => tls });
    session.on('error', () => undefined);
    void connectStatus(session, `127.0.0.1:${rig.in('echo')}`);
  });
  const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 5000))]);
  tls.destroy();
  t.equal(outcome, 'closed', 'the sidecar closed the connection');
  t.equal(rig.echo.connections, 0, 'a leaf of another CA gets no stream to the app');
  t.ok(await metric(rig.ingress, 'ccmesh_proxy_tls_handshake_failures_total', { reason: 'untrusted-cert' }) >= 1, 'refused by the gate as untrusted-cert');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_connections'), 0, 'no pooled connection was made');

  const web = (await rig.mesh.leaf(['web.default.svc'])).files;
  const plain = tlsConnect({ host: '127.0.0.1', port: rig.in('tls'), ca: rig.mesh.bundle(), key: web.key, cert: web.chain, allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
  plain.on('error', () => undefined);
  await new Promise((r) => plain.once('secureConnect', r));
  t.equal(plain.alpnProtocol, false, 'a tls (server-auth only) listener does not negotiate the tunnel');
  plain.destroy();
});

void t.test('fallback: a peer without the tunnel gets per-connection mTLS, both ways round', async (t) => {
  const rig = await startRig(t, { ingressTunnel: { enabled: false } });
  for (let i = 0; i < 3; i++) t.equal(await echoOnce(rig.out('echo'), `old peer ${i}`), `old peer ${i}`, `connection ${i} works against a peer without the tunnel`);
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_fallbacks_total', { reason: 'peer-without-tunnel' }), 3, 'each went per-connection');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_streams_total'), 0, 'no tunnel stream');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections'), 0, 'no pooled connection');

  const rig2 = await startRig(t, { egressTunnel: { enabled: false } });
  t.equal(await echoOnce(rig2.out('echo'), 'old client'), 'old client', 'a client without the tunnel is served per-connection');
  t.equal(await metric(rig2.ingress, 'ccmesh_proxy_tunnel_connections'), 0, 'no pooled connection on the ingress');
});

/** Echo round trip on an open socket. */
function roundTrip(s: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('data', (d: Buffer) => resolve(d.toString()));
    s.once('error', reject);
    s.write(text);
  });
}

void t.test('credential swap: old pooled connections take no new streams and drain within the grace', async (t) => {
  const rig = await startRig(t, { egressTunnel: { drainMs: 1500 } });
  const a = await open(rig.out('echo'));
  t.equal(await roundTrip(a, 'before'), 'before', 'a connection on the first pooled connection');
  writeTlsDir((await rig.mesh.leaf(['web', 'web.default.svc'])).files, rig.dirs.web);
  await rig.egress.store.reload();
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections', { state: 'draining' }), 1, 'the old pooled connection drains');
  t.equal(await echoOnce(rig.out('echo'), 'after'), 'after', 'a new connection works');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connections', { state: 'active' }), 1, 'over a new pooled connection');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_connections'), 2, 'the ingress holds both');
  t.equal(await roundTrip(a, 'during'), 'during', 'the old stream keeps working during the grace');
  const aClosed = closedWith(a);
  const started = Date.now();
  t.equal(await aClosed, 'ECONNRESET', 'at the end of the grace the old stream is cut (a reset)');
  t.ok(Date.now() - started < 5000, 'within the grace');
  t.equal(await metric(rig.egress, 'ccmesh_proxy_tunnel_connection_closes_total', { reason: 'rotated' }), 1, 'counted rotated');
  t.equal(await settled(rig.egress, 'ccmesh_proxy_tunnel_connection_closes_total', { reason: 'drain-timeout' }, 1), 1, 'counted drain-timeout');
});

void t.test('trust swap on the ingress: a pooled connection whose peer is no longer trusted is closed at once', async (t) => {
  const rig = await startRig(t, { ingressTunnel: { drainMs: 60_000 } });
  const a = await open(rig.out('echo'));
  t.equal(await roundTrip(a, 'before'), 'before', 'a stream from the web leaf (first mesh CA)');
  // Two manifest transitions: the bundle then holds the two newest mesh CAs; the web leaf's CA is gone.
  await rig.mesh.addMeshCa();
  await rig.mesh.addMeshCa();
  const files = (await rig.mesh.leaf(['api'])).files;
  const bundle = rig.mesh.meshCas.slice(0, 2).map((c) => c.certPem).join('');
  const aClosed = closedWith(a);
  const started = Date.now();
  writeTlsDir({ ...files, meshCaBundle: bundle }, rig.dirs.api);
  await rig.ingress.store.reload();
  t.ok(rig.ingress.store.generationNumber > 1, 'the ingress applied the new trust');
  t.equal(await aClosed, 'ECONNRESET', 'the stream on it is reset');
  t.ok(Date.now() - started < 10_000, 'at once, not after the 60 s grace');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_connection_closes_total', { reason: 'untrusted' }), 1, 'counted untrusted');
});

void t.test("a stream after the peer's leaf expired is refused on the pooled connection", async (t) => {
  const rig = await startRig(t, { webLifetimeMs: 4000 });
  // The leaf is issued now and lives 4 s; startup and this first stream take well under that.
  t.equal(await echoOnce(rig.out('echo'), 'fresh'), 'fresh', 'a stream while the leaf is valid');
  const notAfter = rig.egress.store.current.notAfterMs;
  await new Promise((r) => setTimeout(r, Math.max(0, notAfter - Date.now()) + 300));
  const s = await open(rig.out('echo'));
  const closed = closedWith(s);
  s.write('stale');
  t.equal(await closed, 'ECONNRESET', 'refused: a reset for the client');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'identity-expired' }), 1, 'counted identity-expired');
});

type Misbehaviour = 'refuse' | 'goaway' | 'drop' | 'refuse-all';

/**
 * A tunnel peer of our own (the `api` leaf, the tunnel ALPN, plain node:http2) that does `first` to one stream —
 * REFUSED_STREAM without a response, or closing the pooled connection, to the first stream; a graceful GOAWAY whose
 * last stream id is the first stream's, to the second — and echoes every other one (`refuse-all`: refuses every
 * stream). It records the bytes each stream carried to it.
 */
async function misbehavingPeer(t: { teardown(fn: () => unknown): void }, mesh: TestMesh, first: Misbehaviour): Promise<{ port: number; streams: number; bytesOnStream: number[]; connections: number }> {
  const files = (await mesh.leaf(['api'])).files;
  const h2 = createH2Server();
  const peer = { port: 0, streams: 0, bytesOnStream: [] as number[], connections: 0 };
  const tlsSockets: TLSSocket[] = [];
  h2.on('stream', (stream: ServerHttp2Stream) => {
    const n = peer.streams++;
    peer.bytesOnStream[n] = 0;
    stream.on('error', () => undefined);
    stream.on('data', (d: Buffer) => (peer.bytesOnStream[n]! += d.length));
    if (first === 'refuse-all' || (n === 0 && first !== 'goaway')) {
      if (first === 'refuse' || first === 'refuse-all') return void stream.close(h2c.NGHTTP2_REFUSED_STREAM);
      // The pooled connection closes under the stream (its TLS socket: the session's socket is a guarded proxy).
      return void tlsSockets.at(-1)?.destroy();
    }
    if (n === 1 && first === 'goaway') {
      // Graceful: the first stream (id 1) was processed and goes on; this one (id 3) was not. The connection stays up.
      return void stream.session?.goaway(h2c.NGHTTP2_NO_ERROR, 1);
    }
    stream.respond({ ':status': 200 });
    stream.on('data', (d: Buffer) => stream.write(d));
    stream.on('end', () => stream.end());
  });
  const server = createTlsServer({ key: files.key, cert: files.chain, ALPNProtocols: [TUNNEL_ALPN] }, (tls) => {
    peer.connections++;
    tlsSockets.push(tls);
    tls.on('error', () => undefined);
    h2.emit('connection', tls);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peer.port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((r) => {
    server.close(() => r());
    h2.close();
  }));
  return peer;
}

for (const first of ['refuse', 'goaway', 'drop'] as const) {
  void t.test(`a stream the peer did not process (${first}) is sent again on another pooled connection: the app sees no reset`, async (t) => {
    const mesh = await TestMesh.create();
    const dir = writeTlsDir((await mesh.leaf(['web'])).files);
    const peer = await misbehavingPeer(t, mesh, first);
    const egress = await startProxy(testConfig({
      tlsDir: dir,
      tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true },
      egress: [{ name: 'p', listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: peer.port }, identity: { kind: 'dns', value: 'api' }, identitySource: 'field' }],
    }), { clock: systemClock, logger: testLogger });
    t.teardown(async () => {
      await egress.drain();
      rmSync(dir, { recursive: true, force: true });
    });
    // With `goaway`, a first app connection is carried (and stays open) on the connection the peer then retires.
    const before = first === 'goaway' ? await open(egress.ports.get('p')!) : undefined;
    if (before !== undefined) t.equal(await roundTrip(before, 'first'), 'first', 'a first stream is served');
    const tested = first === 'goaway' ? 1 : 0;
    // The app writes at once, before any stream was answered; its bytes must reach the peer exactly once.
    const s = await open(egress.ports.get('p')!);
    const got = readAll(s);
    const closed = closedWith(s);
    s.end('written before the answer');
    t.equal((await got).toString(), 'written before the answer', 'the app connection got its echo over the retried stream');
    t.equal(await closed, '', 'and closed cleanly, no reset');
    t.equal(peer.streams, tested + 2, 'the peer saw the refused stream and the retry');
    t.equal(peer.bytesOnStream[tested], 0, 'the refused stream carried no app byte (nothing is sent before the 200)');
    t.equal(await metric(egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'retried' }), 1, 'counted retried');
    t.equal(await settled(egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'ok' }, 1), 1, 'the retry ended ok');
    if (first !== 'refuse') t.equal(peer.connections, 2, 'the retry went over a new pooled connection (the first one is gone or retiring)');
    if (before !== undefined) {
      t.equal(await roundTrip(before, 'still'), 'still', 'the stream the GOAWAY let finish keeps working');
      before.destroy();
    }
  });
}

void t.test('a stream refused unprocessed twice is a reset for the app (one retry only)', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['web'])).files);
  const peer = await misbehavingPeer(t, mesh, 'refuse-all');
  const egress = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true },
    egress: [{ name: 'p', listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: peer.port }, identity: { kind: 'dns', value: 'api' }, identitySource: 'field' }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await egress.drain();
    rmSync(dir, { recursive: true, force: true });
  });
  const s = await open(egress.ports.get('p')!);
  const closed = closedWith(s);
  s.write('never delivered');
  t.equal(await closed, 'ECONNRESET', 'the app connection is reset');
  t.equal(peer.streams, 2, 'after exactly one retry');
  t.same(peer.bytesOnStream, [0, 0], 'no app byte on either refused stream');
  t.equal(await metric(egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'retried' }), 1, 'one retry counted');
  t.equal(await settled(egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'error' }, 1), 1, 'the second refusal counted as error');
});
