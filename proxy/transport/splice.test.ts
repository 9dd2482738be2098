import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { splice } from './splice.js';

/** client → [a  proxy  b] → app, all on loopback; `done` results and the proxy's two sockets are recorded. */
interface Rig {
  readonly proxyPort: number;
  readonly appSockets: Socket[];
  readonly legs: { a: Socket; b: Socket }[];
  readonly results: boolean[];
  /** Resolves with `failed` of the next completed splice. */
  nextDone(): Promise<boolean>;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function startRig(idleTimeoutMs: number, onApp: (s: Socket) => void): Promise<Rig> {
  const appSockets: Socket[] = [];
  const app = createServer({ allowHalfOpen: true }, (s) => {
    appSockets.push(s);
    onApp(s);
  });
  const appPort = await listen(app);
  const legs: { a: Socket; b: Socket }[] = [];
  const results: boolean[] = [];
  const waiters: ((failed: boolean) => void)[] = [];
  const proxy = createServer({ allowHalfOpen: true }, (a) => {
    const b = connect({ host: '127.0.0.1', port: appPort, allowHalfOpen: true });
    b.once('connect', () => {
      legs.push({ a, b });
      splice(a, b, idleTimeoutMs, (failed) => {
        results.push(failed);
        waiters.shift()?.(failed);
      });
    });
  });
  const proxyPort = await listen(proxy);
  return {
    proxyPort,
    appSockets,
    legs,
    results,
    nextDone: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      for (const s of appSockets) s.destroy();
      await Promise.all([app, proxy].map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

function collect(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

void t.test('bytes both ways, half-close travels, clean end reported once', async (t) => {
  const payload = randomBytes(8 * 1024 * 1024 + 123);
  const reply = randomBytes(300_000);
  let appGot: Buffer | undefined;
  const rig = await startRig(10_000, (s) => {
    void collect(s).then((got) => {
      // The client's end arrived while our direction is still open: answer after it (half-close).
      appGot = got;
      s.end(reply);
    });
  });
  t.teardown(() => rig.close());
  const done = rig.nextDone();
  const c = connect({ host: '127.0.0.1', port: rig.proxyPort, allowHalfOpen: true });
  const back = collect(c);
  c.end(payload);
  const answer = await back;
  t.equal(await done, false, 'splice ended cleanly');
  t.equal(sha(appGot!), sha(payload), 'client → app byte-identical');
  t.equal(sha(answer), sha(reply), 'app → client byte-identical, after the half-close');
  const { a, b } = rig.legs[0]!;
  t.ok(a.destroyed && b.destroyed, 'both proxy sockets are gone');
  t.same(rig.results, [false], 'done called exactly once');
  c.destroy();
});

void t.test('backpressure: a slow reader bounds what the proxy buffers, and nothing is lost', async (t) => {
  const payload = randomBytes(32 * 1024 * 1024);
  let appSocket: Socket | undefined;
  const rig = await startRig(10_000, (s) => {
    appSocket = s;
    s.pause();
  });
  t.teardown(() => rig.close());
  const done = rig.nextDone();
  const c = connect({ host: '127.0.0.1', port: rig.proxyPort, allowHalfOpen: true });
  c.write(payload);
  // Let the kernel buffers fill up while the app is not reading.
  await new Promise((r) => setTimeout(r, 300));
  const { a, b } = rig.legs[0]!;
  t.ok(a.isPaused(), 'the source is paused while its destination is full');
  const held = a.readableLength + b.writableLength;
  t.ok(held <= 4 * 64 * 1024, `proxy holds ${held} bytes (bounded by the stream buffers, not by the payload)`);
  const got = collect(appSocket!);
  appSocket!.resume();
  c.end();
  t.equal(sha(await got), sha(payload), 'every byte arrives once the reader resumes');
  appSocket!.end();
  c.resume();
  t.equal(await done, false);
  c.destroy();
});

void t.test('a reset on one side takes the other down and is reported as failed', async (t) => {
  const rig = await startRig(10_000, () => undefined);
  t.teardown(() => rig.close());
  const done = rig.nextDone();
  const c = connect({ host: '127.0.0.1', port: rig.proxyPort, allowHalfOpen: true });
  c.on('error', () => undefined);
  await new Promise<void>((resolve) => c.once('connect', () => resolve()));
  while (rig.appSockets.length === 0 || rig.legs.length === 0) await new Promise((r) => setTimeout(r, 10));
  const appSide = rig.appSockets[0]!;
  appSide.on('error', () => undefined);
  // The app server is half-open capable: the proxy's close shows up as the end of its input.
  const appEnded = new Promise<void>((resolve) => {
    appSide.once('end', () => resolve());
    appSide.once('close', () => resolve());
  });
  appSide.resume();
  c.resetAndDestroy();
  t.equal(await done, true, 'failed');
  await appEnded;
  t.ok(rig.legs[0]!.b.destroyed, 'the proxy closed its app leg');
});

void t.test('the idle timeout closes both sides', async (t) => {
  const rig = await startRig(150, () => undefined);
  t.teardown(() => rig.close());
  const done = rig.nextDone();
  const c = connect({ host: '127.0.0.1', port: rig.proxyPort, allowHalfOpen: true });
  const closed = new Promise<void>((resolve) => {
    c.once('end', () => resolve());
    c.once('close', () => resolve());
  });
  c.resume();
  const started = Date.now();
  t.equal(await done, true, 'an idle close counts as failed');
  await closed;
  t.ok(Date.now() - started >= 100, 'not before the timeout');
  c.destroy();
});

void t.test('a socket that closed before the splice still completes it', async (t) => {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    accepted.push(s);
  });
  const port = await listen(server);
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const open = async (): Promise<Socket> => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    return s;
  };
  const [x, y] = [await open(), await open()];
  x.destroy();
  await new Promise<void>((resolve) => x.once('close', () => resolve()));
  const failed = await new Promise<boolean>((resolve) => splice(x, y, 10_000, resolve));
  t.equal(failed, true, 'reported as failed');
  t.ok(y.destroyed, 'the open leg was destroyed');
});
