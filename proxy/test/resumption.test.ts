/**
 * TLS session resumption as an attack on the inbound identity gate (explicit listeners over loopback): a session
 * obtained without a client certificate, or under a mesh CA that is no longer trusted, must never be resumed into
 * a connection that reaches the app; a legitimate peer's resumption keeps working and is still checked.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { FixedClock, systemClock } from '../../lib/clock.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp, testConfig, testLogger } from './support.js';

interface Attempt {
  /** What came back ('' when refused). */
  readonly reply: string;
  readonly reused: boolean;
  /** The session tickets the server handed out. */
  readonly sessions: Buffer[];
}

type Creds = { key: string; chain: string } | undefined;

/** One TLS 1.3 connection: sends `hello`, half-closes, collects the reply and any session tickets. */
function attempt(port: number, ca: string, creds: Creds, session?: Buffer): Promise<Attempt> {
  return new Promise((resolve) => {
    const opts: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: '127.0.0.1', port, ca, allowPartialTrustChain: true, checkServerIdentity: () => undefined, allowHalfOpen: true,
      minVersion: 'TLSv1.3', ...(creds ? { key: creds.key, cert: creds.chain } : {}), ...(session ? { session } : {}),
    };
    const s: TLSSocket = tlsConnect(opts);
    const sessions: Buffer[] = [];
    let reused = false;
    s.on('session', (b: Buffer) => sessions.push(b));
    s.once('secureConnect', () => {
      reused = s.isSessionReused();
      s.end('hello');
    });
    readAll(s).then((b) => resolve({ reply: b.toString(), reused, sessions }), () => resolve({ reply: '', reused, sessions }));
  });
}

const HELLO_HASH = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5\n';

void t.test('a session ticket from a TLS-only port never resumes into an mTLS port', async (t) => {
  const mesh = await TestMesh.create();
  const server = await mesh.leaf(['api', 'api.default.svc']);
  const dir = writeTlsDir(server.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const apps = { open: new TestApp(), strict: new TestApp(), public: new TestApp() };
  const ports = { open: await apps.open.listen(), strict: await apps.strict.listen(), public: await apps.public.listen() };
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    inbound: [
      { name: 'open', appPort: ports.open, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
      { name: 'strict', appPort: ports.strict, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'] } },
      { name: 'public', appPort: ports.public, listenPort: 0, mode: { kind: 'tls' } },
    ],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await proxy.drain();
    await Promise.all(Object.values(apps).map((a) => a.close()));
  });
  const port = (n: string): number => proxy.ports.get(n)!;
  const ca = mesh.bundle();

  const anonymous = await attempt(port('public'), ca, undefined);
  t.equal(anonymous.reply, HELLO_HASH, 'control: no client cert → TLS-only port is admitted');
  t.ok(anonymous.sessions.length > 0, 'and the TLS-only port hands out a session ticket');
  const ticket = anonymous.sessions.at(-1)!;

  const onOpen = await attempt(port('open'), ca, undefined, ticket);
  t.equal(onOpen.reply, '', 'that ticket resumed on an mTLS port (no allow-list): refused');
  t.equal(onOpen.reused, false, 'the mTLS port does not even resume it (its own ticket keys), so the handshake asks for a certificate');
  const onStrict = await attempt(port('strict'), ca, undefined, ticket);
  t.equal(onStrict.reply, '', 'that ticket resumed on an mtls:allow= port: refused');
  t.equal(onStrict.reused, false, 'nor does the allow-listed mTLS port');
  t.equal(apps.open.connections, 0, 'the app behind the mTLS port saw no connection');
  t.equal(apps.strict.connections, 0, 'the app behind the allow-listed port saw no connection');
});

void t.test('a session from before a mesh CA rotation does not resume after it', async (t) => {
  const mesh = await TestMesh.create();
  const server = await mesh.leaf(['api', 'api.default.svc']);
  const dir = writeTlsDir(server.files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const app = new TestApp();
  const appPort = await app.listen();
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    inbound: [{ name: 'open', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const port = proxy.ports.get('open')!;
  const oldClient = (await mesh.leaf(['web'])).files;
  const first = await attempt(port, mesh.bundle(), oldClient);
  t.equal(first.reply, HELLO_HASH, 'control: a leaf of the current mesh CA is admitted');
  const ticket = first.sessions.at(-1)!;
  const again = await attempt(port, mesh.bundle(), oldClient, ticket);
  t.equal(again.reply, HELLO_HASH, 'control: its session resumes before the rotation');
  t.ok(again.reused, 'control: and it was a resumption');

  // The old mesh CA leaves the bundle (its transition is over); the sidecar gets a leaf of the new one.
  const oldCa = mesh.meshCas[0]!;
  await mesh.addMeshCa();
  mesh.meshCas.splice(mesh.meshCas.indexOf(oldCa), 1);
  writeTlsDir((await mesh.leaf(['api', 'api.default.svc'])).files, dir);
  await proxy.store.reload();
  t.equal(proxy.store.generationNumber, 2, 'the rotated credentials were applied');

  const before = app.connections;
  const resumed = await attempt(port, oldCa.certPem + mesh.bundle(), oldClient, ticket);
  t.equal(resumed.reply, '', 'the pre-rotation session, offered after the rotation: refused');
  t.equal(app.connections, before, 'the app saw no connection from it');
});

void t.test('a resumed session whose client leaf has expired since is refused', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['api', 'api.default.svc'], { lifetimeMs: 24 * 3600_000 })).files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const app = new TestApp();
  const appPort = await app.listen();
  const clock = new FixedClock(Date.now());
  const proxy = await startProxy(testConfig({
    tlsDir: dir,
    inbound: [{ name: 'open', appPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } }],
  }), { clock, logger: testLogger });
  t.teardown(async () => {
    await proxy.drain();
    await app.close();
  });
  const port = proxy.ports.get('open')!;
  const client = (await mesh.leaf(['web'], { lifetimeMs: 3600_000 })).files;
  const first = await attempt(port, mesh.bundle(), client);
  t.equal(first.reply, HELLO_HASH, 'control: the client leaf is admitted while valid');
  const ticket = first.sessions.at(-1)!;
  const again = await attempt(port, mesh.bundle(), client, ticket);
  t.ok(again.reused && again.reply === HELLO_HASH, 'control: its session resumes and is admitted');

  // The sidecar's clock passes the client leaf's notAfter (the ticket itself is still fresh for OpenSSL).
  clock.advance(2 * 3600_000);
  const before = app.connections;
  const late = await attempt(port, mesh.bundle(), client, ticket);
  t.ok(late.reused, 'the session was resumed');
  t.equal(late.reply, '', 'but the expired leaf behind it is refused');
  t.equal(app.connections, before, 'the app saw no connection from it');
  const expired = (await proxy.metrics.handshakeFailures.get()).values.find((v) => v.labels.reason === 'cert-expired' && v.labels.direction === 'inbound');
  t.equal(expired?.value, 1, 'counted as cert-expired');
});
