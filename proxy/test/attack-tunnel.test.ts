/**
 * Attacks on the pooled tunnel by a mesh peer (an attested workload with a genuine leaf of the mesh CA). Each subtest
 * performs the attack against real sidecars over loopback and asserts the secure behaviour; it FAILS while the attack
 * works.
 *
 * 1. Confused deputy through the transparent listener: a tunnel stream names the original destination port
 *    `127.0.0.1:PORT`, and every port that is not an mTLS entry or one of the sidecar's own four gets the default
 *    route "mTLS, any mesh identity" (`inbound/transparent.ts`, `mtlsByPort`). The pod's own egress listeners
 *    (`127.0.0.1:PORT`, plaintext in, mTLS out with THIS pod's leaf) are not among the excluded ports. So a peer that
 *    is any mesh identity can open a stream to the victim's egress listener and reach the victim's upstream as the
 *    victim — past an allow-list on that upstream that names only the victim.
 *
 * 2. Memory held for one pooled connection: each stream's receive window (512 KiB) is bounded, but the connection
 *    window is returned on arrival and a connection may carry `--tunnel-streams` (default 1 024) streams, so a peer
 *    that opens many streams to an app that does not read makes the sidecar hold up to 1 024 × (512 KiB + buffers)
 *    ≈ 640 MiB for ONE connection, and it may open any number of connections. The window's bytes wait in Node's native
 *    http2 buffers, which `streamBufferedBytes` (JS-side queues) does not see, so the process RSS is measured (in this
 *    process, which holds the test's client too: its writes reference one shared 3 MiB block).
 *
 * 3. `--max-connections` bounds accepted TCP connections; on the inbound side each pooled one may carry 1 024 streams,
 *    each its own app connection, so the documented "only bound on app connections" does not hold there.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect as h2Connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { PROXY_DEFAULTS, type ProxyConfig } from '../config.js';
import { CONNECTION_WINDOW, TUNNEL_ALPN } from '../tunnel/protocol.js';
import { streamBufferedBytes } from '../tunnel/stream-splice.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';

const tunnelOn: ProxyConfig['tunnel'] = { ...PROXY_DEFAULTS.tunnel, enabled: true };

async function rawTunnel(mesh: TestMesh, port: number, files: { key: string; chain: string }): Promise<ClientHttp2Session> {
  const tls = tlsConnect({ host: '127.0.0.1', port, key: files.key, cert: files.chain, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
  tls.on('error', () => undefined);
  await new Promise((r) => tls.once('secureConnect', r));
  if (tls.alpnProtocol !== TUNNEL_ALPN) throw new Error(`the listener did not negotiate the tunnel (ALPN ${String(tls.alpnProtocol)})`);
  const session = h2Connect('http://x', { createConnection: () => tls });
  session.on('error', () => undefined);
  return session;
}

/** A CONNECT stream and its response status (0 when it died first). */
function connectStream(session: ClientHttp2Session, authority: string): Promise<{ status: number; stream: ClientHttp2Stream }> {
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority });
  stream.on('error', () => undefined);
  return new Promise((resolve) => {
    stream.once('response', (h) => resolve({ status: Number(h[':status']), stream }));
    stream.once('close', () => resolve({ status: 0, stream }));
  });
}

void t.test('a mesh peer can not use the transparent listener to reach this pod\'s own egress listener (its identity)', async (t) => {
  const mesh = await TestMesh.create();
  const dirs = {
    db: writeTlsDir((await mesh.leaf(['db'])).files),
    api: writeTlsDir((await mesh.leaf(['api'])).files),
  };
  const attacker = (await mesh.leaf(['web'])).files;
  // The upstream: a database whose sidecar admits only the `api` identity.
  const dbApp = new TestApp('echo');
  const dbSide = await startProxy(testConfig({
    tlsDir: dirs.db,
    inbound: [{ name: 'db', appPort: await dbApp.listen(), listenPort: 0, mode: { kind: 'mtls', allow: ['api'] } }],
  }), { clock: systemClock, logger: testLogger });
  // The victim: pod `api` in capture mode (transparent listeners, no rules needed for a tunnel stream), with an egress
  // listener to the database on 127.0.0.1 as docs/proxy.md allows (any 127.x.y.z).
  const victim = await startProxy(testConfig({
    tlsDir: dirs.api,
    tunnel: tunnelOn,
    noIptables: false,
    transparent: { mtlsPort: 0, tlsPort: 0, entries: [], ownPorts: [15006, 15007, 15001, 15020] },
    egress: [{ name: 'db', listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: dbSide.ports.get('db')! }, identity: { kind: 'dns', value: 'db' }, identitySource: 'field' }],
  }), { clock: systemClock, logger: testLogger, hooks: {} });
  t.teardown(async () => {
    await Promise.all([victim.drain(), dbSide.drain()]);
    await dbApp.close();
    rmSync(dirs.db, { recursive: true, force: true });
    rmSync(dirs.api, { recursive: true, force: true });
  });

  // The attacker (`web`, refused by the database's allow-list) opens a pooled connection to the victim's captured
  // mTLS listener and names the victim's egress listener as the CONNECT port.
  const session = await rawTunnel(mesh, victim.ports.get('transparent-mtls')!, attacker);
  t.teardown(() => session.destroy());
  const { status, stream } = await connectStream(session, `127.0.0.1:${victim.ports.get('db')!}`);
  let echoed = '';
  if (status === 200) {
    stream.on('data', (d: Buffer) => (echoed += d.toString()));
    stream.write('SELECT secrets\n');
    await new Promise((r) => setTimeout(r, 1000));
  }
  stream.destroy();
  t.not(status, 200, `the stream to the victim's own egress listener is refused (got status ${status})`);
  t.equal(dbApp.connections, 0, `the database never sees the attacker, who would reach it as "api" (echoed: ${JSON.stringify(echoed)})`);
});

// OPEN (found by the attacker review, 2026-12-02; the tunnel is off by default until fixed): runs as a todo, so its
// failure is reported but does not fail the suite. Remove `todo` with the fix.
void t.test('one pooled connection can not make the sidecar hold more than a connection window', { todo: 'open: per-connection memory bound of the tunnel (docs/proxy.md, known gaps)' }, async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['api'])).files);
  const peer = (await mesh.leaf(['web'])).files;
  // An app that accepts and never reads (busy, or the attacker's chosen slow endpoint).
  const held: Socket[] = [];
  const app = createServer((s) => {
    s.pause();
    s.on('error', () => undefined);
    held.push(s);
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  const ingress = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: tunnelOn,
    inbound: [{ name: 'slow', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    for (const s of held) s.destroy();
    await ingress.drain();
    await new Promise<void>((r) => app.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const session = await rawTunnel(mesh, ingress.ports.get('slow')!, peer);
  t.teardown(() => session.destroy());
  const STREAMS = 128;
  // More than a stream window plus what the kernel's socket buffers of a stalled loopback connection take.
  const block = randomBytes(3 * 1024 * 1024);
  const rssBefore = process.memoryUsage().rss;
  const opened = await Promise.all(Array.from({ length: STREAMS }, () => connectStream(session, `127.0.0.1:${ingress.ports.get('slow')!}`)));
  t.equal(opened.filter((o) => o.status === 200).length, STREAMS, `${STREAMS} streams accepted on one pooled connection`);
  // The client side keeps references to one shared block: what grows is the sidecar's (native) receive buffers.
  for (const o of opened) o.stream.write(block);
  let peak = 0;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peak = Math.max(peak, process.memoryUsage().rss - rssBefore);
  }
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const bound = CONNECTION_WINDOW + 16 * 1024 * 1024;
  t.ok(peak <= bound, `one peer connection of ${STREAMS} stalled streams grew the process by ${mib(peak)} (JS-visible stream buffers: ${mib(streamBufferedBytes().bytes)}; bound asserted: the ${mib(CONNECTION_WINDOW)} connection window + 16 MiB; the default --tunnel-streams ${PROXY_DEFAULTS.tunnel.maxStreams} allows ${PROXY_DEFAULTS.tunnel.maxStreams / STREAMS}× this per connection)`);
  for (const o of opened) o.stream.destroy();
});

// OPEN, as above.
void t.test('--max-connections bounds the app connections a peer makes the sidecar open, tunnel or not', { todo: 'open: tunnel streams are not counted against --max-connections (docs/proxy.md, known gaps)' }, async (t) => {
  // docs/proxy.md ("Limits"): "--max-connections stays the only bound on app connections". On the inbound side it
  // bounds accepted TCP connections; each pooled one may carry --tunnel-streams (1 024) streams, each an app connection.
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['api'])).files);
  const peer = (await mesh.leaf(['web'])).files;
  const app = new TestApp('echo');
  const appPort = await app.listen();
  const MAX = 4;
  const ingress = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: tunnelOn,
    maxConnections: MAX,
    inbound: [{ name: 'app', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await ingress.drain();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const session = await rawTunnel(mesh, ingress.ports.get('app')!, peer);
  t.teardown(() => session.destroy());
  const STREAMS = 64;
  const opened = await Promise.all(Array.from({ length: STREAMS }, () => connectStream(session, `127.0.0.1:${ingress.ports.get('app')!}`)));
  const accepted = opened.filter((o) => o.status === 200).length;
  // A 200 is sent once the kernel accepted the app connection; let the app's accept callbacks run.
  await new Promise((r) => setTimeout(r, 500));
  t.ok(app.connections <= MAX, `with --max-connections ${MAX} the app got ${app.connections} connections from one peer TCP connection (${accepted} of ${STREAMS} CONNECT streams answered 200)`);
  for (const o of opened) o.stream.destroy();
});
