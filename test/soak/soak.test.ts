/**
 * Load and soak through two sidecars (issue #18): app client → web's egress sidecar → mTLS → api's inbound sidecar
 * → app, with the Coordinator in the same forked process (`host.ts`), all over loopback.
 *
 *  1. Burst: CONCURRENT connections held open at once, every one echoing its own random bytes back; then all close
 *     and the process's fd count returns to where it was.
 *  2. Soak for SOAK_SECONDS: workers loop new-connection-per-request (random 1 B–256 KiB, SHA-256 and byte count
 *     checked at the app and back), while long-lived connections ping-pong the whole time. Halfway through, the
 *     owner sets a new manifest: a new mesh CA, which both sidecars adopt by trust refresh and then renew their leaf
 *     from — during load, with zero failed requests and every long-lived connection still up.
 *  Asserted: zero failed requests; both leaves renewed by the new CA; no fd growth after the load stops; RSS in the
 *  last fifth of the soak within RSS_GROWTH_BOUND of the level after warm-up, and never over RSS_CEILING.
 *
 * `npm test` runs 60 s; `npm run soak` (bench tier) runs 600 s (CCMESH_SOAK_SECONDS). Figures go to the log, and
 * docs/reliability.md records them.
 */
import t from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { fdCount, fdsSettle, rssBytes, sleep } from '../support/proc.js';
import type { SoakCommand, SoakEvent } from './host.js';

const SOAK_SECONDS = Number(process.env.CCMESH_SOAK_SECONDS ?? 60);
const CONCURRENT = Number(process.env.CCMESH_SOAK_CONNECTIONS ?? 2000);
const WORKERS = 16;
const LONG_LIVED = 32;
const WARMUP_SECONDS = Math.min(15, SOAK_SECONDS / 4);
/** RSS may rise this much between the end of warm-up and the last fifth of the soak (allocator noise, GC timing). */
const RSS_GROWTH_BOUND = 48 * 1024 * 1024;
/**
 * The whole process — Coordinator, two sidecars, two apps — never holds more than this (seen: ~290 MiB idle, ~400 MiB
 * with 2 000 connections held, ~450 MiB peak).
 */
const RSS_CEILING = 768 * 1024 * 1024;
const EGRESS_IP = '127.0.0.9';
const HOST_JS = fileURLToPath(new URL('./host.js', import.meta.url));

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** The forked host and a typed request/answer channel to it. */
class Host {
  readonly child: ChildProcess;
  readonly #waiting: { kind: SoakEvent['kind']; resolve(e: SoakEvent): void }[] = [];
  errors: string[] = [];

  constructor() {
    this.child = fork(HOST_JS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
    this.child.on('message', (e: SoakEvent) => {
      if (e.kind === 'error') this.errors.push(e.message);
      const i = this.#waiting.findIndex((w) => w.kind === e.kind || e.kind === 'error');
      if (i >= 0) this.#waiting.splice(i, 1)[0]!.resolve(e);
    });
  }

  next<K extends SoakEvent['kind']>(kind: K, cmd?: SoakCommand['cmd']): Promise<Extract<SoakEvent, { kind: K }>> {
    const p = new Promise<SoakEvent>((resolve) => this.#waiting.push({ kind, resolve }));
    if (cmd) this.child.send({ cmd } satisfies SoakCommand);
    return p.then((e) => {
      if (e.kind === 'error') throw new Error(`soak host: ${e.message}`);
      return e as Extract<SoakEvent, { kind: K }>;
    });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.send({ cmd: 'stop' } satisfies SoakCommand);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: EGRESS_IP, port, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads until `n` bytes arrived (or rejects on error/close/timeout). */
function readBytes(s: Socket, n: number, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
      s.off('error', onError);
      if (err) reject(err);
      else resolve(Buffer.concat(parts));
    };
    const onData = (d: Buffer): void => {
      parts.push(d);
      got += d.length;
      if (got >= n) done();
    };
    const onClose = (): void => done(new Error(`closed after ${got} of ${n} bytes`));
    const onError = (e: Error): void => done(e);
    const timer = setTimeout(() => done(new Error(`timed out after ${got} of ${n} bytes`)), timeoutMs);
    s.on('data', onData);
    s.once('close', onClose);
    s.once('error', onError);
  });
}

/** One request on a new connection: random bytes, half-close, the app's "<sha256> <count>\n" back. */
async function hashRequest(port: number): Promise<void> {
  const body = randomBytes(1 + Math.floor(Math.random() ** 3 * 256 * 1024));
  const expected = `${createHash('sha256').update(body).digest('hex')} ${body.length}\n`;
  const s = await open(port);
  try {
    const answer = new Promise<string>((resolve, reject) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.once('end', () => resolve(Buffer.concat(parts).toString()));
      s.once('error', reject);
      setTimeout(() => reject(new Error('no answer within 30 s')), 30_000).unref();
    });
    s.end(body);
    const got = await answer;
    if (got !== expected) throw new Error(`answer ${JSON.stringify(got.slice(0, 80))}, expected ${JSON.stringify(expected)}`);
  } finally {
    s.destroy();
  }
}

/** One echo round trip on a held connection. */
async function ping(s: Socket): Promise<void> {
  const msg = randomBytes(64);
  const back = readBytes(s, msg.length);
  s.write(msg);
  const got = await back;
  if (!got.equals(msg)) throw new Error('echo answered other bytes');
}

const skip = process.platform === 'linux' ? false : 'reads /proc for fd counts and RSS: Linux only';
void t.test('load and soak through two sidecars, with a CA transition under load', { skip }, async (t) => {
  const host = new Host();
  t.teardown(async () => void (await host.stop()));
  const { ports } = await host.next('ready');
  const pid = host.child.pid!;
  await hashRequest(ports.hash);
  const fdIdle = fdCount(pid);
  t.comment(`host pid ${pid}: ${fdIdle} fds, RSS ${mib(rssBytes(pid))} idle`);

  // 1. The burst.
  const held: Socket[] = [];
  let burstFailures = 0;
  const opening: Promise<void>[] = [];
  for (let i = 0; i < CONCURRENT; i++) {
    opening.push(open(ports.echo).then((s) => {
      held.push(s);
      return ping(s);
    }).catch(() => void burstFailures++));
    if (i % 100 === 99) await Promise.all(opening.splice(0));
  }
  await Promise.all(opening);
  const fdBurst = fdCount(pid);
  t.equal(burstFailures, 0, `${CONCURRENT} connections open at once, each echoed its own bytes`);
  t.equal(held.length, CONCURRENT, 'all of them are held open together');
  t.ok(fdBurst >= fdIdle + 2 * CONCURRENT, `the sidecars hold them (${fdBurst} fds)`);
  t.comment(`burst: ${CONCURRENT} held connections, ${fdBurst} fds, RSS ${mib(rssBytes(pid))}`);
  let stillUp = 0;
  await Promise.all(held.map((s) => ping(s).then(() => void stillUp++, () => undefined)));
  t.equal(stillUp, CONCURRENT, 'a second round trip on every held connection');
  for (const s of held.splice(0)) s.destroy();
  const fdAfterBurst = await fdsSettle(pid, fdIdle + 8);
  t.ok(fdAfterBurst <= fdIdle + 8, `fds back to idle after the burst (${fdAfterBurst}, idle ${fdIdle})`);

  // 2. The soak.
  const before = await host.next('status', 'status');
  const longLived = await Promise.all(Array.from({ length: LONG_LIVED }, () => open(ports.echo)));
  let updatedCa = '';
  const stats = { requests: 0, failures: [] as string[], pings: 0, pingedAfterUpdate: new Set<Socket>() };
  const samples: { at: number; rss: number; fds: number }[] = [];
  const start = Date.now();
  const deadline = start + SOAK_SECONDS * 1000;
  const rssAfterGc = async (): Promise<number> => {
    await host.next('collected', 'gc');
    return rssBytes(pid);
  };
  let rssWarm = NaN;
  const warm = (async () => {
    await sleep(WARMUP_SECONDS * 1000);
    rssWarm = await rssAfterGc();
  })();
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      try {
        await hashRequest(ports.hash);
        stats.requests++;
      } catch (err) {
        stats.failures.push(String(err));
      }
    }
  };
  const pinger = async (s: Socket): Promise<void> => {
    while (Date.now() < deadline) {
      try {
        await ping(s);
        stats.pings++;
        if (updatedCa !== '') stats.pingedAfterUpdate.add(s);
      } catch (err) {
        stats.failures.push(`long-lived: ${String(err)}`);
        return;
      }
      await sleep(200);
    }
  };
  const sampler = setInterval(() => samples.push({ at: (Date.now() - start) / 1000, rss: rssBytes(pid), fds: fdCount(pid) }), 1000);
  const transition = (async () => {
    await sleep(SOAK_SECONDS * 500);
    updatedCa = (await host.next('updated', 'update')).ca;
    t.comment(`${((Date.now() - start) / 1000).toFixed(0)} s: manifest updated, new mesh CA ${updatedCa}`);
  })();
  await Promise.all([...Array.from({ length: WORKERS }, worker), ...longLived.map(pinger), transition, warm]);
  clearInterval(sampler);
  for (const s of longLived) s.destroy();
  const after = await host.next('status', 'status');

  t.same(stats.failures.slice(0, 5), [], `no failed request (${stats.failures.length} failures of ${stats.requests} requests, ${stats.pings} pings)`);
  t.ok(stats.requests > SOAK_SECONDS, `load kept flowing (${stats.requests} requests in ${SOAK_SECONDS} s)`);
  t.equal(stats.pingedAfterUpdate.size, LONG_LIVED, `every long-lived connection, opened under the old CA, kept answering after the update (${stats.pings} pings)`);
  for (const side of ['web', 'api'] as const) {
    t.not(after[side].serial, before[side].serial, `${side}: the leaf was renewed during the soak`);
    t.equal(after[side].issuer, updatedCa, `${side}: by the new mesh CA`);
  }
  t.equal(after.bundle[0], updatedCa, 'the new CA leads the trusted bundle');

  const fdEnd = await fdsSettle(pid, fdIdle + 8);
  t.ok(fdEnd <= fdIdle + 8, `no fd growth: ${fdEnd} after the soak, ${fdIdle} before`);
  // Retained memory: RSS after a full collection at the end of warm-up and once the load stopped.
  const rssEnd = await rssAfterGc();
  const peak = Math.max(...samples.map((s) => s.rss));
  t.ok(Number.isFinite(rssWarm), 'RSS was read after warm-up');
  t.ok(rssEnd - rssWarm <= RSS_GROWTH_BOUND, `RSS after a full GC: ${mib(rssWarm)} after warm-up, ${mib(rssEnd)} at the end: growth within ${mib(RSS_GROWTH_BOUND)}`);
  t.ok(peak <= RSS_CEILING, `RSS peak ${mib(peak)} within ${mib(RSS_CEILING)}`);
  t.comment(`soak: ${stats.requests} requests (${(stats.requests / SOAK_SECONDS).toFixed(0)}/s), ${stats.pings} pings, 0 failed; fds ${fdIdle} → ${fdEnd}; RSS after GC ${mib(rssWarm)} → ${mib(rssEnd)}, peak ${mib(peak)}`);
  t.same(host.errors, [], 'the host reported no error');
  t.equal(await host.stop(), 0, 'the host drains and exits 0');
});
