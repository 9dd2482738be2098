/**
 * Whom the sidecar trusts, over loopback with real TLS on both ends: the mesh CA bundle of its current generation,
 * and nothing else. Egress servers are bare TLS servers as the host could run them (they accept any client), so the
 * refusal seen is the sidecar's own: a leaf of another CA carrying the expected SAN, and a leaf of a root-signed
 * mesh CA that has left the bundle, are refused as untrusted; a current mesh leaf of another workload is refused as
 * a SAN mismatch. Inbound, a client leaf of the CA that left the bundle is refused too. None reaches an app.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, createServer as createTlsServer, type Server, type TLSSocket } from 'node:tls';
import { systemClock } from '../../lib/clock.js';
import type { EgressListenerConfig } from '../config.js';
import type { CredentialFiles } from '../credentials/generation.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp, testConfig, testLogger } from './support.js';

const HELLO_HASH = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5\n';

/** A bare TLS server presenting `files` to anyone; answers like TestApp (hash of what it got); counts bytes seen. */
class BareTlsServer {
  readonly server: Server;
  bytes = 0;
  readonly #sockets = new Set<Socket>();
  constructor(files: CredentialFiles) {
    this.server = createTlsServer({ key: files.key, cert: files.chain, allowHalfOpen: true }, (s: TLSSocket) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('error', () => s.destroy());
      s.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
        this.bytes += d.length;
      });
      s.on('end', () => s.end(`${h.digest('hex')} ${n}\n`));
    });
    this.server.on('tlsClientError', (_err, s) => s.destroy());
    // A refused handshake can leave the server's side of the TCP connection open; close() ends them all.
    this.server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

void t.test('the sidecar trusts its mesh CA bundle and nothing else', async (t) => {
  const mesh = await TestMesh.create();
  const other = await TestMesh.create('other.local');
  const dbSans = ['db', 'db.shop.svc'];
  // A leaf of the mesh CA that is about to leave the bundle (its manifest transition is over).
  const oldDb = await mesh.leaf(dbSans, { workload: 'db' });
  const oldCa = mesh.meshCas[0]!;
  await mesh.addMeshCa();
  mesh.meshCas.splice(mesh.meshCas.indexOf(oldCa), 1);
  t.ok(oldCa.cert.verify(mesh.root.cert.publicKey), 'control: the departed mesh CA is signed by the root');

  const web = await mesh.leaf(['web', 'web.shop.svc'], { workload: 'web' });
  const dir = writeTlsDir(web.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const servers = {
    good: new BareTlsServer((await mesh.leaf(dbSans, { workload: 'db' })).files),
    foreign: new BareTlsServer((await other.leaf(dbSans, { workload: 'db' })).files),
    departed: new BareTlsServer(oldDb.files),
    cache: new BareTlsServer((await mesh.leaf(['cache', 'cache.shop.svc'], { workload: 'cache' })).files),
  };
  const egress: EgressListenerConfig[] = [];
  for (const [name, s] of Object.entries(servers)) {
    egress.push({ name, listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: await s.listen() }, identity: { kind: 'dns', value: 'db.shop.svc' }, identitySource: 'field' });
  }
  const app = new TestApp();
  const appPort = await app.listen();
  const proxy = await startProxy(testConfig({ tlsDir: dir, egress, inbound: [{ name: 'in', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }] }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await proxy.drain();
    await Promise.all([app.close(), ...Object.values(servers).map((s) => s.close())]);
  });
  const via = (name: string): Promise<string> => {
    const s = connect({ host: '127.0.0.1', port: proxy.ports.get(name)!, allowHalfOpen: true });
    s.once('connect', () => s.end('hello'));
    return readAll(s).then((b) => b.toString(), () => '');
  };

  t.equal(await via('good'), HELLO_HASH, 'control: a current mesh leaf with the expected SAN is admitted');
  t.equal(await via('foreign'), '', 'a leaf of another CA with the expected SAN: refused');
  t.equal(await via('departed'), '', 'a leaf of a root-signed mesh CA no longer in the bundle: refused');
  t.equal(await via('cache'), '', 'a current mesh leaf of another workload: refused');
  t.equal(servers.foreign.bytes + servers.departed.bytes + servers.cache.bytes, 0, 'none of those servers got a byte of the app');
  const failures = (await proxy.metrics.handshakeFailures.get()).values.filter((v) => v.labels.direction === 'outbound' && v.value > 0);
  // Summed over the remotes' ports (each egress entry's failures are labelled with its remote port).
  const byReason = new Map<string, number>();
  for (const v of failures) byReason.set(String(v.labels.reason), (byReason.get(String(v.labels.reason)) ?? 0) + v.value);
  t.same([...byReason].sort(), [['server-san-mismatch', 1], ['server-untrusted', 2]], 'counted: two untrusted chains, one SAN mismatch');

  const inbound = (files: CredentialFiles): Promise<string> => {
    const opts: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: '127.0.0.1', port: proxy.ports.get('in')!, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, key: files.key, cert: files.chain, allowHalfOpen: true,
    };
    const s = tlsConnect(opts);
    s.once('secureConnect', () => s.end('hello'));
    return readAll(s).then((b) => b.toString(), () => '');
  };
  t.equal(await inbound((await mesh.leaf(['client'])).files), HELLO_HASH, 'control: a client leaf of the current mesh CA is admitted');
  t.equal(await inbound(oldDb.files), '', 'a client leaf of the departed mesh CA (sent with its CA): refused');
  t.equal(app.connections, 1, 'the app saw only the admitted client');
});
