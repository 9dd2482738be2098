/**
 * Faults under load (issue #18). Two real sidecar processes (`bin/ccmesh proxy --no-iptables`), credentials from a
 * real in-process Coordinator (simulated TEE) that both sidecars poll for trust, and a load of hash-checked requests
 * (random bodies, half-close, the app answers SHA-256 and byte count) running through them the whole time, while:
 *
 *   - the Coordinator goes away: the data path does not notice, /ready stays 200 (the leaves are valid);
 *   - the inbound sidecar is `kill -9`ed and restarted, then the outbound one: requests fail while it is gone
 *     (nothing can carry them), succeed again once it is back, and no answer is ever corrupted;
 *   - the upstream app resets connections, and stalls without reading: the client sees the reset (no hang), and a
 *     client writing as fast as it can into the stall is held back by flow control (bounded RSS in both sidecars);
 *   - clients stall mid-handshake: closed after --handshake-timeout.
 * After each, the sidecars' fd counts return to their idle level. At the end both drain on SIGTERM and exit 0.
 * Linux only (/proc).
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from '../../coordinator/test/harness.js';
import type { MeshApiMethods } from '../../lib/protocol/messages.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import { writeTlsDir } from '../../proxy/test/pki.js';
import { TestApp } from '../../proxy/test/support.js';
import { fdCount, fdsSettle, rssBytes, sleep } from '../support/proc.js';
import { freePort, SidecarProcess } from './sidecar-process.js';

const EGRESS_IP = '127.0.0.9';
const SAN = 'web.default.svc';
const WORKERS = 6;
/** How much more a sidecar may hold while a client writes into an app that never reads. */
const STALL_RSS_BOUND = 48 * 1024 * 1024;
const skip = process.platform === 'linux' ? false : 'reads /proc for fd counts and RSS: Linux only';

/** Outcomes of the background load, by phase. */
class Load {
  phase = 'start';
  readonly ok = new Map<string, number>();
  readonly failed = new Map<string, number>();
  readonly corrupted: string[] = [];
  #stopped = false;
  #running: Promise<void>[] = [];

  constructor(readonly port: number) {}

  start(): void {
    this.#running = Array.from({ length: WORKERS }, () => this.#worker());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  /** Starts counting under a new phase name. */
  enter(phase: string): void {
    this.phase = phase;
  }

  count(map: Map<string, number>, phase: string): number {
    return map.get(phase) ?? 0;
  }

  async #worker(): Promise<void> {
    while (!this.#stopped) {
      const phase = this.phase;
      const body = randomBytes(1 + Math.floor(Math.random() * 64 * 1024));
      const expected = `${createHash('sha256').update(body).digest('hex')} ${body.length}\n`;
      const answer = await request(this.port, body);
      // A request in flight across a phase change belongs to neither phase.
      if (this.phase !== phase) continue;
      if (answer === expected) this.ok.set(phase, this.count(this.ok, phase) + 1);
      else if (expected.startsWith(answer)) {
        // Nothing, or a cut-off prefix of the right answer: the request failed; nothing wrong was delivered.
        this.failed.set(phase, this.count(this.failed, phase) + 1);
        await sleep(50);
      } else this.corrupted.push(`${phase}: ${JSON.stringify(answer.slice(0, 100))}`);
    }
  }
}

/** One request on a new connection; the answer ('' when the connection failed). */
function request(port: number, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const s = connect({ host: EGRESS_IP, port, allowHalfOpen: true });
    const timer = setTimeout(() => s.destroy(), 15_000);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts).toString());
    });
    s.once('connect', () => s.end(body));
    s.once('end', () => s.destroy());
  });
}

void t.test('faults under load: Coordinator, sidecar kills, upstream resets and stalls, stalled handshakes', { skip }, async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest([], ['web', SAN]), [h.coordinatorDoc, h.podDoc]));
  const tlsDir = async (client: PinnedClient<MeshApiMethods>): Promise<string> => {
    const pod = await h.newPodCert(client);
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-faults-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const key = (pod.key.privateKey as unknown as { export(o: object): string }).export({ type: 'pkcs8', format: 'pem' }).toString();
    return writeTlsDir({ key, chain: pod.res.certChain, meshCaBundle: pod.res.meshCaBundle, rootCa: pod.res.rootCa }, dir);
  };
  const [webDir, apiDir] = [await tlsDir(mesh), await tlsDir(mesh)];

  const hashApp = new TestApp('hash');
  const resets = { seen: 0 };
  const resetApp = createServer((s) => s.once('data', () => {
    resets.seen++;
    s.resetAndDestroy();
  }));
  const stalled: Socket[] = [];
  const stallApp = createServer((s) => {
    s.pause();
    stalled.push(s);
  });
  const listen = async (srv: ReturnType<typeof createServer>): Promise<number> => {
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return (srv.address() as AddressInfo).port;
  };
  const app = { hash: await hashApp.listen(), reset: await listen(resetApp), stall: await listen(stallApp) };
  t.teardown(async () => {
    for (const s of stalled) s.destroy();
    await hashApp.close();
    await Promise.all([resetApp, stallApp].map((srv) => new Promise((r) => srv.close(r))));
  });
  const names = ['hash', 'reset', 'stall'] as const;
  const inbound = { hash: await freePort(), reset: await freePort(), stall: await freePort() };
  const egress = { hash: await freePort(EGRESS_IP), reset: await freePort(EGRESS_IP), stall: await freePort(EGRESS_IP) };
  const coordinator = ['--coordinator', `127.0.0.1:${h.coordinator!.meshPort}`, '--trust-refresh', '1s'];
  const api = await SidecarProcess.create([
    '--tls-dir', apiDir, '--listen-host', '127.0.0.1', '--handshake-timeout', '1s', ...coordinator,
    '--ingress', names.map((n) => `${n}#${app[n]}#mtls:allow=${SAN}`).join('##'),
    '--inbound-port-map', names.map((n) => `${app[n]}=${inbound[n]}`).join(','),
  ]);
  const web = await SidecarProcess.create([
    '--tls-dir', webDir, ...coordinator,
    '--egress', names.map((n) => `${n}#${EGRESS_IP}:${egress[n]}#127.0.0.1:${inbound[n]}#${SAN}`).join('##'),
  ]);
  t.teardown(async () => {
    await Promise.all([api.kill(), web.kill()]);
  });
  await api.start();
  await web.start();
  const idle = { api: fdCount(api.pid), web: fdCount(web.pid) };

  const load = new Load(egress.hash);
  load.start();
  t.teardown(() => load.stop());
  await sleep(2000);

  // The Coordinator goes away (the sidecars' trust polls fail and are retried).
  load.enter('coordinator-down');
  await h.coordinator!.close();
  await sleep(3000);
  t.equal([await api.probe('/ready'), await web.probe('/ready')].join(), '200,200', 'Coordinator gone: both sidecars stay ready (their leaves are valid)');

  // kill -9 each sidecar under load, then restart it.
  for (const [name, victim, other] of [['inbound', api, web], ['outbound', web, api]] as const) {
    load.enter(`${name}-killed`);
    await victim.kill();
    await sleep(1000);
    t.ok(other.running, `${name} sidecar killed: the other keeps running`);
    t.equal(await other.probe('/live'), 200, `${name} sidecar killed: the other is live`);
    await victim.start();
    load.enter(`${name}-restarting`);
    await sleep(500);
    load.enter(`${name}-restarted`);
    await sleep(2000);
    t.equal(load.count(load.failed, `${name}-restarted`), 0, `${name} sidecar restarted: no request fails once it is ready`);
    t.ok(load.count(load.ok, `${name}-restarted`) > 0, `${name} sidecar restarted: requests succeed (${load.count(load.ok, `${name}-restarted`)})`);
  }
  load.enter('steady');
  await sleep(1000);
  await load.stop();
  for (const phase of ['start', 'coordinator-down', 'steady']) {
    t.equal(load.count(load.failed, phase), 0, `${phase}: no failed request (${load.count(load.ok, phase)} succeeded)`);
  }
  t.ok(load.count(load.failed, 'inbound-killed') > 0, 'while the inbound sidecar was gone, requests failed (the test saw the fault)');
  t.same(load.corrupted, [], 'no answer was ever corrupted');
  const base = { api: fdCount(api.pid), web: fdCount(web.pid) };
  t.comment(`fds: idle api ${idle.api}, web ${idle.web}; after restarts api ${base.api}, web ${base.web}`);

  // The upstream resets every connection at its first byte.
  const resetOutcomes = await Promise.all(Array.from({ length: 20 }, async () => {
    const started = Date.now();
    const answer = await request(egress.reset, randomBytes(1024));
    return { answer, ms: Date.now() - started };
  }));
  t.equal(resets.seen, 20, 'the reset app saw every connection');
  t.ok(resetOutcomes.every((o) => o.answer === '' && o.ms < 10_000), 'every client saw its connection end with no answer, none hung');
  t.ok((await fdsSettle(api.pid, base.api + 4)) <= base.api + 4, 'upstream resets: the inbound sidecar holds no extra fds');
  t.ok((await fdsSettle(web.pid, base.web + 4)) <= base.web + 4, 'upstream resets: the outbound sidecar holds no extra fds');

  // The upstream stalls: it accepts and never reads. A client writes as fast as it can for 4 s.
  const rssBefore = { api: rssBytes(api.pid), web: rssBytes(web.pid) };
  const writer = connect({ host: EGRESS_IP, port: egress.stall });
  writer.on('error', () => undefined);
  await new Promise<void>((r) => writer.once('connect', () => r()));
  let written = 0;
  const chunk = randomBytes(64 * 1024);
  const stopAt = Date.now() + 4000;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (Date.now() < stopAt) {
        written += chunk.length;
        if (!writer.write(chunk)) return void writer.once('drain', pump);
      }
      resolve();
    };
    pump();
    setTimeout(resolve, 4500);
  });
  const rssStalled = { api: rssBytes(api.pid), web: rssBytes(web.pid) };
  t.ok(written < 256 * 1024 * 1024, `flow control held the writer back (it got ${(written / 1048576).toFixed(1)} MiB out in 4 s)`);
  for (const side of ['api', 'web'] as const) {
    t.ok(rssStalled[side] - rssBefore[side] <= STALL_RSS_BOUND, `stalled upstream: ${side} RSS ${(rssBefore[side] / 1048576).toFixed(0)} → ${(rssStalled[side] / 1048576).toFixed(0)} MiB, within ${STALL_RSS_BOUND / 1048576} MiB`);
  }
  writer.destroy();
  t.ok((await fdsSettle(web.pid, base.web + 4)) <= base.web + 4, 'stalled upstream, client gone: the outbound sidecar releases it');
  for (const s of stalled.splice(0)) s.destroy();
  t.ok((await fdsSettle(api.pid, base.api + 4)) <= base.api + 4, 'and the inbound sidecar too');

  // Clients that stall mid-handshake (nothing at all; half a TLS record header) are closed after --handshake-timeout 1s.
  const stallHandshake = (first: Buffer): Promise<number> => new Promise((resolve) => {
    const started = Date.now();
    const s = connect({ host: '127.0.0.1', port: inbound.hash }, () => s.write(first));
    s.on('error', () => undefined);
    s.once('close', () => resolve(Date.now() - started));
    setTimeout(() => s.destroy(), 15_000);
  });
  const closedAfter = await Promise.all([stallHandshake(Buffer.alloc(0)), stallHandshake(Buffer.from([0x16, 0x03, 0x01, 0x02]))]);
  t.ok(closedAfter.every((ms) => ms >= 900 && ms < 5000), `stalled handshakes were closed after the timeout (${closedAfter.join(', ')} ms)`);

  t.equal([await api.probe('/ready'), await web.probe('/ready')].join(), '200,200', 'both sidecars ready at the end');
  t.equal(await api.stop(), 0, 'inbound sidecar drains and exits 0 on SIGTERM');
  t.equal(await web.stop(), 0, 'outbound sidecar drains and exits 0 on SIGTERM');
});
