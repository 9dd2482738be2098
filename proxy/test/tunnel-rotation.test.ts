/**
 * Credential changes under load with the pooled tunnel on (issue #16 §1): two real sidecars over loopback, short app
 * connections in a loop from several clients and long bulk transfers spanning the changes, while leaves, trust
 * bundles and mesh CAs change on both ends, in every order a mesh sees them. Not one app connection may see a reset,
 * an error or a wrong answer: a credential change drains pooled connections, it never cuts what they carry.
 * CCMESH_TUNNEL_STRESS_ROUNDS=N repeats the whole cycle N times (default 2).
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { systemClock } from '../../lib/clock.js';
import type { CredentialFiles } from '../credentials/generation.js';
import { PROXY_DEFAULTS, type ProxyConfig } from '../config.js';
import { startProxy, type RunningProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { TestApp, testConfig, testLogger } from './support.js';

const ROUNDS = Number(process.env.CCMESH_TUNNEL_STRESS_ROUNDS ?? 2);
const SHORT_CLIENTS = 8;
const BULK_CLIENTS = 2;
const BULK_BYTES = 8 * 1024 * 1024;

/** One app connection: send `payload`, half-close, read to the end; resolves with the answer or rejects with the socket's error. */
function exchange(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('error', reject);
    s.once('end', () => {
      s.end();
      resolve(Buffer.concat(parts));
    });
    let off = 0;
    const pump = (): void => {
      while (off < payload.length) {
        const chunk = payload.subarray(off, off + 256 * 1024);
        off += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.once('connect', pump);
  });
}

interface Load {
  ok: number;
  readonly failures: string[];
  stop(): Promise<void>;
  /** Resolves once `n` more exchanges completed than now. */
  progress(n: number): Promise<void>;
}

function startLoad(echoPort: number, hashPort: number): Load {
  let running = true;
  const waiters: { at: number; resolve: () => void }[] = [];
  const load: Load = {
    ok: 0,
    failures: [],
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
    progress: (n) => new Promise((resolve) => waiters.push({ at: load.ok + n, resolve })),
  };
  const done = (): void => {
    load.ok++;
    for (const w of waiters.splice(0)) {
      if (load.ok >= w.at || load.failures.length > 0) w.resolve();
      else waiters.push(w);
    }
  };
  const fail = (what: string): void => {
    load.failures.push(what);
    for (const w of waiters.splice(0)) w.resolve();
  };
  const short = async (i: number): Promise<void> => {
    for (let n = 0; running; n++) {
      const payload = randomBytes(1 + ((i * 7919 + n * 104729) % 32768));
      try {
        const answer = await exchange(echoPort, payload);
        if (answer.equals(payload)) done();
        else fail(`short ${i}/${n}: ${answer.length} bytes back for ${payload.length}`);
      } catch (err) {
        fail(`short ${i}/${n}: ${(err as Error).message}`);
      }
    }
  };
  const bulk = async (i: number): Promise<void> => {
    const payload = randomBytes(BULK_BYTES);
    const expected = `${createHash('sha256').update(payload).digest('hex')} ${payload.length}\n`;
    for (let n = 0; running; n++) {
      try {
        const answer = (await exchange(hashPort, payload)).toString();
        if (answer === expected) done();
        else fail(`bulk ${i}/${n}: wrong answer ${JSON.stringify(answer.slice(0, 80))}`);
      } catch (err) {
        fail(`bulk ${i}/${n}: ${(err as Error).message}`);
      }
    }
  };
  const loops = [...Array.from({ length: SHORT_CLIENTS }, (_, i) => short(i)), ...Array.from({ length: BULK_CLIENTS }, (_, i) => bulk(i))];
  return load;
}

void t.test('credential changes on both ends under load with the tunnel on: zero app-visible resets', async (t) => {
  // Progress, not speed: each round waits for traffic and for drained connections on a shared, loaded machine.
  t.setTimeout(ROUNDS * 180_000);
  const mesh = await TestMesh.create();
  const sans = { web: ['web', 'web.default.svc'], api: ['api', 'api.default.svc'] };
  const files: { web: CredentialFiles; api: CredentialFiles } = { web: (await mesh.leaf(sans.web)).files, api: (await mesh.leaf(sans.api)).files };
  const dirs = { web: writeTlsDir(files.web), api: writeTlsDir(files.api) };
  const echoApp = new TestApp('echo');
  const hashApp = new TestApp('hash');
  const [echoPort, hashPort] = [await echoApp.listen(), await hashApp.listen()];
  const tunnel: ProxyConfig['tunnel'] = { ...PROXY_DEFAULTS.tunnel, enabled: true };
  const ingress: RunningProxy = await startProxy(testConfig({
    tlsDir: dirs.api,
    tunnel,
    inbound: [
      { name: 'echo', appPort: echoPort, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'] } },
      { name: 'hash', appPort: hashPort, listenPort: 0, mode: { kind: 'mtls', allow: [] } },
    ],
  }), { clock: systemClock, logger: testLogger });
  const remote = (name: string): ProxyConfig['egress'][number] => ({ name, listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: ingress.ports.get(name)! }, identity: { kind: 'dns', value: 'api.default.svc' }, identitySource: 'field' });
  const egress: RunningProxy = await startProxy(testConfig({ tlsDir: dirs.web, tunnel, egress: [remote('echo'), remote('hash')] }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    await Promise.all([egress.drain(), ingress.drain()]);
    await Promise.all([echoApp.close(), hashApp.close()]);
    rmSync(dirs.web, { recursive: true, force: true });
    rmSync(dirs.api, { recursive: true, force: true });
  });
  const side = { web: egress, api: ingress } as const;
  /** New leaf for `who` from the newest mesh CA, or only the bundle of today (the leaf kept). */
  const write = async (who: 'web' | 'api', what: 'leaf' | 'bundle'): Promise<void> => {
    // A sidecar's bundle holds the current and at most the previous mesh CA.
    const meshCaBundle = mesh.meshCas.slice(0, 2).map((c) => c.certPem).join('');
    files[who] = { ...(what === 'leaf' ? (await mesh.leaf(sans[who])).files : files[who]), meshCaBundle };
    writeTlsDir(files[who], dirs[who]);
    await side[who].store.reload();
  };

  const draining = async (): Promise<number> => {
    let n = 0;
    for (const p of [egress, ingress]) n += (await p.metrics.tunnelConnections.get()).values.filter((v) => v.labels.state === 'draining').reduce((a, v) => a + v.value, 0);
    return n;
  };
  let stuck = 0;
  /** Waits until no pooled connection drains on either end (their streams finished), at most 60 s. */
  const drained = async (): Promise<void> => {
    const until = Date.now() + 60_000;
    while ((await draining()) > 0) {
      if (Date.now() > until) return void stuck++;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const load = startLoad(egress.ports.get('echo')!, egress.ports.get('hash')!);
  const steps: [string, () => Promise<void>][] = [
    ['egress leaf', () => write('web', 'leaf')],
    ['ingress leaf', () => write('api', 'leaf')],
    ['both leaves at once', async () => void (await Promise.all([write('web', 'leaf'), write('api', 'leaf')]))],
    // A new mesh CA the way the mesh rolls it out: the bundle everywhere first, then the leaves. The bundle then drops
    // the CA before the previous one; a pooled connection whose peer leaf it issued is closed at once, streams and all
    // (tunnel.test.ts), so the change waits until the pooled connections of earlier changes have drained.
    ['new mesh CA: bundles (ingress first)', async () => {
      await drained();
      await mesh.addMeshCa();
      await write('api', 'bundle');
      await write('web', 'bundle');
    }],
    ['new mesh CA: ingress leaf', () => write('api', 'leaf')],
    ['new mesh CA: egress leaf', () => write('web', 'leaf')],
    ['new mesh CA: bundles (egress first)', async () => {
      await drained();
      await mesh.addMeshCa();
      await write('web', 'bundle');
      await write('api', 'bundle');
    }],
    ['new mesh CA: both leaves at once', async () => void (await Promise.all([write('web', 'leaf'), write('api', 'leaf')]))],
  ];
  const generations = (): number => egress.store.generationNumber + ingress.store.generationNumber;
  let unchanged = 0;
  await load.progress(20);
  for (let round = 0; round < ROUNDS && load.failures.length === 0; round++) {
    for (const [name, step] of steps) {
      const before = generations();
      await step();
      // The directory watcher may be mid-read when the step reloads; the read that follows it applies the change.
      for (const until = Date.now() + 5000; generations() === before && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
      if (generations() === before) {
        unchanged++;
        t.comment(`round ${round}: "${name}" changed no generation`);
      }
      // Traffic over the new pooled connections, while the old ones drain.
      await load.progress(15);
      if (load.failures.length > 0) {
        t.comment(`round ${round}: failures after "${name}"`);
        break;
      }
    }
  }
  await load.stop();
  if (process.env.CCMESH_TUNNEL_STRESS_DEBUG === '1') {
    for (const [n, p] of [['egress', egress], ['ingress', ingress]] as const) {
      for (const m of ['ccmesh_proxy_tunnel_streams_total', 'ccmesh_proxy_tunnel_stream_refusals_total', 'ccmesh_proxy_tunnel_connection_closes_total', 'ccmesh_proxy_tunnel_fallbacks_total']) {
        t.comment(`${n} ${m} ${JSON.stringify((await p.registry.getSingleMetric(m)!.get()).values.map((v) => [v.labels, v.value]))}`);
      }
    }
  }
  t.comment(`${load.ok} app connections completed over ${ROUNDS} round(s) of ${steps.length} credential changes`);
  t.same(load.failures.slice(0, 5), [], 'no app connection saw a reset, an error or a wrong answer');
  t.ok(load.ok >= 20 + 15 * steps.length, 'the load ran through every change');
  const sum = async (p: RunningProxy, name: string, labels: Record<string, string>): Promise<number> =>
    (await p.registry.getSingleMetric(name)!.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
  const rotated = (await sum(egress, 'ccmesh_proxy_tunnel_connection_closes_total', { reason: 'rotated' })) + (await sum(ingress, 'ccmesh_proxy_tunnel_connection_closes_total', { reason: 'rotated' }));
  t.equal(stuck, 0, 'pooled connections retired by a change closed once their streams finished');
  t.equal(unchanged, 0, 'control: every step changed the credential generation of a sidecar');
  t.ok(rotated >= steps.length, `control: the changes retired pooled connections on both ends (${rotated} rotated)`);
  t.equal(await sum(egress, 'ccmesh_proxy_tunnel_fallbacks_total', {}), 0, 'control: every app connection went over the tunnel');
  t.comment(`streams retried after a GOAWAY or refusal: ${await sum(egress, 'ccmesh_proxy_tunnel_streams_total', { result: 'retried' })}`);
});
