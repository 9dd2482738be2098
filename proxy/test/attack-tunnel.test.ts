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
 * 2. Memory held for one pooled connection: the connection window is returned on arrival, so a peer that opens many
 *    streams to an app that does not read makes the sidecar hold every stream's full window (before the fix 1 024 ×
 *    (512 KiB + buffers) ≈ 640 MiB for ONE connection). Now the windows of one connection add up to at most
 *    SESSION_WINDOW_BUDGET (32 MiB) and streams beyond --tunnel-streams are never opened. Part of the window's bytes
 *    waits in Node's native http2 buffers, which `streamBufferedBytes` (JS-side queues) does not see, so the process
 *    RSS is measured (in this process, which holds the test's client too: its writes reference one shared 3 MiB block).
 *
 * 3. `--max-connections` bounded only accepted TCP connections; on the inbound side each pooled one could carry 1 024
 *    streams, each its own app connection. Now each stream takes a slot of the listener's --max-connections budget.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import { PROXY_DEFAULTS, type ProxyConfig } from '../config.js';
import { HIGH_WATER_MARK } from '../transport/options.js';
import { SESSION_WINDOW_BUDGET, TUNNEL_ALPN } from '../tunnel/protocol.js';
import { streamBufferedBytes } from '../tunnel/stream-splice.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';
import { connectStream, rawTunnel } from './tunnel-client.js';

const tunnelOn: ProxyConfig['tunnel'] = { ...PROXY_DEFAULTS.tunnel, enabled: true };

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

// Found by the attacker review (2026-12-02) and fixed: the stream windows of one pooled connection add up to at most
// SESSION_WINDOW_BUDGET (proxy/tunnel/protocol.ts), and streams beyond --tunnel-streams are never opened.
void t.test('one pooled connection can not make the sidecar hold more than its window budget', async (t) => {
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
  const limit = PROXY_DEFAULTS.tunnel.maxStreams;
  // Twice the streams the sidecar allows per connection: those beyond its SETTINGS_MAX_CONCURRENT_STREAMS never open.
  const STREAMS = 2 * limit;
  // More than a stream window plus what the kernel takes for a loopback connection whose reader never reads (its
  // receive buffer does not grow without reads; the sidecar's send buffer grows to tcp_wmem's 4 MiB).
  const block = randomBytes(8 * 1024 * 1024);
  const opened = await Promise.all(Array.from({ length: STREAMS }, () => connectStream(session, `127.0.0.1:${ingress.ports.get('slow')!}`, 3000)));
  const accepted = opened.filter((o) => o.status === 200);
  t.ok(accepted.length > 0 && accepted.length <= limit, `${accepted.length} of ${STREAMS} streams accepted on one pooled connection (--tunnel-streams ${limit})`);
  // What the sidecar granted: its streams' windows together fit the budget (whatever else — the connection window,
  // the client's pacing — limits a given run, this is the bound it promises).
  const granted = (session.remoteSettings.initialWindowSize ?? 0) * (session.remoteSettings.maxConcurrentStreams ?? Infinity);
  t.ok(granted <= SESSION_WINDOW_BUDGET, `advertised stream window × streams = ${granted} bytes ≤ the ${SESSION_WINDOW_BUDGET}-byte budget`);
  // The client side keeps references to one shared block. Node hands every DATA frame to the stream's JS buffer as it
  // arrives and returns stream window only as it is read, so a stalled stream's window is in what streamBufferedBytes
  // counts (the links of this process are the sidecar's only: the client is a raw HTTP/2 session).
  for (const o of accepted) o.stream.write(block);
  // Until it stalls: the app sockets' kernel buffers take ~4 MiB each first (about half a GiB in all, 10–30 s here).
  let peak = 0;
  let last = -1;
  let stable = 0;
  for (let i = 0; i < 1200 && !(last > 0 && stable >= 20); i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = streamBufferedBytes().bytes;
    peak = Math.max(peak, now);
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  t.ok(peak > accepted.length * HIGH_WATER_MARK, `the streams stalled in the sidecar (it holds ${mib(peak)}): the bound below is tested, not idle`);
  // Per stalled stream: its window, plus the app socket's write queue (up to two 64 KiB buffers).
  const bound = SESSION_WINDOW_BUDGET + accepted.length * 2 * HIGH_WATER_MARK;
  t.ok(peak <= bound, `one peer connection of ${accepted.length} stalled streams makes the sidecar hold ${mib(peak)} at most (bound: the ${mib(SESSION_WINDOW_BUDGET)} window budget + 128 KiB per stream = ${mib(bound)}; before the fix 1 024 streams × 512 KiB)`);
  for (const o of opened) o.stream.destroy();
});

// Found by the attacker review (2026-12-02) and fixed: each tunnel stream takes a --max-connections slot of the
// listener it reaches, shared with the listener's TCP connections.
void t.test('--max-connections bounds the app connections a peer makes the sidecar open, tunnel or not', async (t) => {
  // docs/proxy.md ("Limits"): "--max-connections stays the only bound on app connections". On the inbound side it
  // bounds accepted TCP connections and the tunnel streams they carry together.
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
  const authority = `127.0.0.1:${ingress.ports.get('app')!}`;
  const session = await rawTunnel(mesh, ingress.ports.get('app')!, peer);
  t.teardown(() => session.destroy());
  const STREAMS = 64;
  const opened = await Promise.all(Array.from({ length: STREAMS }, () => connectStream(session, authority)));
  const accepted = opened.filter((o) => o.status === 200);
  // A 200 is sent once the kernel accepted the app connection; let the app's accept callbacks run.
  await new Promise((r) => setTimeout(r, 500));
  t.ok(app.connections <= MAX, `with --max-connections ${MAX} the app got ${app.connections} connections from one peer TCP connection (${accepted.length} of ${STREAMS} CONNECT streams answered 200)`);
  t.equal(accepted.length, MAX - 1, 'the pooled connection takes one slot, its streams the rest');
  t.ok(opened.filter((o) => o.status === 503).length === STREAMS - accepted.length, 'every other stream is refused with 503');
  // Full: a new TCP connection to the listener is refused as well.
  const extra = await new Promise<boolean>((resolve) => {
    const tls = tlsConnect({ host: '127.0.0.1', port: ingress.ports.get('app')!, key: peer.key, cert: peer.chain, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
    tls.on('error', () => undefined);
    tls.once('secureConnect', () => {
      tls.destroy();
      resolve(true);
    });
    tls.once('close', () => resolve(false));
  });
  t.notOk(extra, 'a TCP connection beyond the shared budget is refused');
  // The slots come back when the streams end: a stream opened afterwards is served.
  for (const o of accepted) o.stream.destroy();
  await new Promise((r) => setTimeout(r, 500));
  const again = await connectStream(session, authority);
  t.equal(again.status, 200, 'a stream after the others ended is accepted again (slots are released)');
  again.stream.destroy();
  for (const o of opened) o.stream.destroy();
});
