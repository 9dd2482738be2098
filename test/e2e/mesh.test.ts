/**
 * End-to-end suite (issue #8): the real `ccmesh` binaries, each started inside its own network namespace exactly
 * as a pod would run them, on one shared link (198.19.50.0/24, fd00:cce::/64):
 *   coord — the Coordinator (`coordinator --tee simulated`); the operator's `set` runs here too; last, the host
 *           wipes its store, restarts it and another party sets its own manifest there;
 *   a, b  — pods: initializer (guard, verify the Coordinator — policy, measurement, mesh owner — then attest with
 *           their own policy hash) → sidecar (`proxy` with iptables capture, an egress listener to the other pod
 *           over IPv4 and IPv6, `--coordinator`, `--trust-refresh 1s`) → app (a TCP echo that reports what it
 *           received and from where);
 *   atk   — the attacker on the same link: plaintext, a certificate from another CA, a real mesh certificate of a
 *           third workload (m) whose SAN the pods don't allow, and a connection opened before B's mesh existed;
 *           later it takes over B's addresses and serves TLS as B (its own CA, then m's leaf), renews foreign and
 *           revoked leaves at the real Coordinator, and runs a Coordinator of its own that pod d is routed to;
 *   c     — a pod whose pinned config file was changed by the host;
 *   d     — a pod whose policy hash is not in the manifest; then a new replica of pod A (A's pinned args) whose
 *           Coordinator connection the host routes to the attacker's Coordinator; last, that replica again against
 *           the wiped Coordinator;
 *   e     — a pod whose app reads the initializer's verified copy of its pinned config (`--config-volume`), and
 *           whose config the host changes after it started.
 * Scenarios are numbered as in the issue; docs/threat-model.md ("End-to-end suite") maps each to its subtest.
 * Root only: skips with the reason locally, fails in CI. Teardown kills every process and deletes every
 * namespace, also when a subtest fails.
 */
import t from 'tap';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import { ProcessExecutor } from '../../iptables/executor.js';
import { CHAIN } from '../../iptables/plan.js';
import { Agent, privilegedSkipReason } from '../support/iptables/netns-harness.js';
import { systemClock } from '../../lib/clock.js';
import { PORTS } from '../../lib/mesh-ports.js';
import { PATHS } from '../../lib/pod-layout.js';
import { TestMesh } from '../../proxy/test/pki.js';
import { repoRoot } from '../fixtures.js';
import { addr4, addr6, type Proc, type Role, Topology } from './harness.js';

const BIN = join(repoRoot, 'bin', 'ccmesh');
const NODE = process.execPath;
const APP_JS = fileURLToPath(new URL('./testdata/app.js', import.meta.url));
const LOOP_JS = fileURLToPath(new URL('./testdata/loop-client.js', import.meta.url));
const FAKE_SERVER_JS = fileURLToPath(new URL('./testdata/fake-server.js', import.meta.url));
const RENEW_JS = fileURLToPath(new URL('./testdata/renew-client.js', import.meta.url));
const CLIENT_JS = join(repoRoot, 'dist', 'proxy', 'test', 'testdata', 'netns-client.js');
const APP_PORT = 8080;
/** Each pod's egress listeners: to the other pod over IPv4 and over IPv6. */
const EGRESS = { v4: { host: '127.0.0.2', port: 9000 }, v6: { host: '127.0.0.3', port: 9000 } } as const;
const SAN = { a: 'a.e2e.svc', b: 'b.e2e.svc', m: 'm.e2e.svc', c: 'c.e2e.svc', e: 'e.e2e.svc' } as const;
const COORD_MESH = `${addr4('coord')}:${PORTS.coordinatorMesh}`;

/** Policy documents (their SHA-256 is the pod's HOST_DATA on the simulated TEE). */
const DOCS = {
  coord: 'package coordinator_policy # e2e\n',
  a: 'package pod_a # e2e\n',
  b: 'package pod_b # e2e\n',
  m: 'package pod_mallory # e2e: a real mesh member, but not one the pods allow\n',
  c: 'package pod_c # e2e: its config volume is pinned\n',
  d: 'package pod_d # e2e: never put in the manifest\n',
  e: 'package pod_e # e2e: its app reads the verified copy of its pinned config\n',
} as const;
const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
const HASH = Object.fromEntries(Object.entries(DOCS).map(([k, v]) => [k, hash(v)])) as Record<keyof typeof DOCS, string>;

interface Attempt {
  readonly connected: boolean;
  readonly secure: boolean;
  readonly data: string;
  readonly error?: string;
}
type Tls = { ca: string; cert?: string; key?: string };

/** Certificates in a PEM bundle, in order. */
function pemCerts(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping the end-to-end namespace suite: ${reason}`);
  t.pass('end-to-end namespace suite', { skip: reason });
} else {
  void t.test('ccmesh end to end in network namespaces', async (t) => {
    const started = Date.now();
    const work = mkdtempSync(join(tmpdir(), 'ccmesh-e2e-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const slow = new ProcessExecutor({ timeoutMs: 120_000 });
    const topo = await Topology.create(['a', 'b', 'c', 'd', 'e', 'atk']);
    const agents: Agent[] = [];
    t.teardown(async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await topo.destroy();
      t.comment(`e2e suite took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
    const dumpLogs = (): void => {
      for (const p of topo.procs) t.comment(`--- ${p.name} ---\n${p.log.slice(-6000)}`);
    };
    t.teardown(() => {
      if (!t.passing()) dumpLogs();
    });
    const run = async (r: Role, args: string[]): Promise<{ code: number; out: string }> => {
      const res = await topo.exec(r).run(NODE, [BIN, ...args]);
      return { code: res.code, out: res.stdout + res.stderr };
    };
    const attempt = async (from: Role, host: string, port: number, text: string, tls?: Tls, timeoutMs = 1500): Promise<Attempt> => {
      const r = await topo.exec(from).run(NODE, [CLIENT_JS, JSON.stringify({ host, port, text, timeoutMs, ...(tls ? { tls } : {}) })]);
      if (r.code !== 0) throw new Error(`client in ${from} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Attempt;
    };
    const dir = (r: Role, ...rest: string[]): string => join(work, r, ...rest);
    for (const r of ['a', 'b', 'c', 'd', 'e', 'atk'] as const) mkdirSync(dir(r), { recursive: true });

    // ---- The operator: simulated platform, Coordinator, workspace, first manifest. ----
    const sim = join(work, 'sim');
    const simInit = await slow.run(NODE, [BIN, 'attest', 'simulate', 'init', '--out', sim, '--host-data', HASH.coord]);
    if (!t.equal(simInit.code, 0, 'a simulated platform')) {
      t.comment(simInit.stderr);
      return;
    }
    const coordinatorArgs = [BIN, 'coordinator', '--store', `file:${join(work, 'store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '0.0.0.0', '--log-level', 'warn'];
    const coordinator = topo.spawn('coord', 'coordinator', NODE, coordinatorArgs);
    const ws = join(work, 'workspace');
    const simMeasurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
    const wsInit = await slow.run(NODE, [BIN, 'manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', simMeasurement]);
    if (!t.equal(wsInit.code, 0, 'an operator workspace (manifest init)')) {
      t.comment(wsInit.stderr);
      return;
    }

    // Pod c's pinned config volume, in Kubernetes' ..data layout; the host later changes the file.
    const cfgMount = dir('c', 'config');
    mkdirSync(join(cfgMount, '..2026_11_26_00_00_00.1'), { recursive: true });
    writeFileSync(join(cfgMount, '..2026_11_26_00_00_00.1', 'app.yaml'), 'port: 6666\n');
    symlinkSync('..2026_11_26_00_00_00.1', join(cfgMount, '..data'));
    symlinkSync(join('..data', 'app.yaml'), join(cfgMount, 'app.yaml'));
    // Pod e's pinned config volume, same layout, holding the pinned content when the pod starts.
    const cfgMountE = dir('e', 'config');
    mkdirSync(join(cfgMountE, '..2026_11_26_00_00_00.1'), { recursive: true });
    writeFileSync(join(cfgMountE, '..2026_11_26_00_00_00.1', 'app.yaml'), 'port: 8080\n');
    symlinkSync('..2026_11_26_00_00_00.1', join(cfgMountE, '..data'));
    symlinkSync(join('..data', 'app.yaml'), join(cfgMountE, 'app.yaml'));

    type ManifestDoc = { policies: Record<string, { sans: string[]; workloadSecretId: string; role: string }>; configDigests: Record<string, Record<string, Record<string, string>>> };
    const manifestPath = join(ws, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestDoc;
    manifest.policies[HASH.coord] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
    for (const r of ['a', 'b', 'm', 'c', 'e'] as const) manifest.policies[HASH[r]] = { sans: [SAN[r]], workloadSecretId: `e2e/${r}`, role: '' };
    manifest.configDigests = { [HASH.c]: { [cfgMount]: { 'app.yaml': hash('port: 8080\n') } }, [HASH.e]: { [cfgMountE]: { 'app.yaml': hash('port: 8080\n') } } };
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    for (const r of ['coord', 'a', 'b', 'm', 'c', 'e'] as const) writeFileSync(join(ws, 'policies', `${r}.rego`), DOCS[r]);
    const set1 = await run('coord', ['set', '-c', `127.0.0.1:${PORTS.coordinatorUser}`, '--dir', ws, '--wait', '60s']);
    if (!t.equal(set1.code, 0, 'the first manifest is set')) {
      t.comment(set1.out);
      return;
    }
    t.match(set1.out, /first manifest/, 'set reports the first manifest');
    t.ok(coordinator.running, 'the Coordinator runs');
    const meshOwner = readFileSync(join(ws, 'mesh-owner'), 'utf8').trim();
    t.match(meshOwner, /^[0-9a-f]{64}$/, 'the first set wrote the mesh owner pin');

    // ---- Pods ----
    // Every pod verifies the Coordinator before attesting to it, pinned as `ccmesh generate --coordinator-policy` pins
    // it: its policy hash, its launch measurement (the simulated platform's), the simulated root, and the mesh owner.
    const verifyCoordinatorArgs = ['--coordinator-policy', HASH.coord, '--coordinator-measurement', simMeasurement, '--coordinator-root', join(sim, 'ark.pem')];
    const pinnedOwner = ['--mesh-owner', meshOwner];
    const initializer = (r: Role, hostData: string, extra: string[] = [], owner: string[] = pinnedOwner): Proc =>
      topo.spawn(r, `initializer-${r}`, NODE, [BIN, 'initializer', '--coordinator', COORD_MESH, '--tee', 'simulated', '--sim-dir', sim, '--host-data', hostData,
        '--tls-dir', dir(r, 'tls'), '--secret-path', dir(r, 'secrets', 'workload-secret'), '--max-backoff', '1s', ...verifyCoordinatorArgs, ...owner, ...extra]);
    const app = async (r: Role, name: string): Promise<Proc> => {
      const p = topo.spawn(r, `app-${r}`, NODE, [APP_JS, name, String(APP_PORT)]);
      if (!(await p.until(() => p.eventsOf('listening').length > 0, 10_000))) throw new Error(`app in ${r} did not listen: ${p.log}`);
      return p;
    };
    const sidecar = async (r: 'a' | 'b', peer: 'a' | 'b'): Promise<Proc> => {
      const ready = dir(r, 'ready');
      const p = topo.spawn(r, `proxy-${r}`, NODE, [BIN, 'proxy',
        '--ingress', `app#${APP_PORT}#mtls:allow=${SAN[peer]}`,
        // The remotes are IP addresses, so each entry names the peer's identity: peer6 in the spec's 4th field, peer4
        // with --egress-san (both forms pin the same SAN).
        '--egress', `peer4#${EGRESS.v4.host}:${EGRESS.v4.port}#${addr4(peer)}:${APP_PORT}##peer6#${EGRESS.v6.host}:${EGRESS.v6.port}#[${addr6(peer)}]:${APP_PORT}#${SAN[peer]}`,
        '--egress-san', `peer4=${SAN[peer]}`,
        '--tls-dir', dir(r, 'tls'), '--admin-port', String(PORTS.sidecarAdmin), '--ready-file', ready, '--ipv6', 'on',
        '--coordinator', COORD_MESH, '--trust-refresh', '1s', '--watchdog-interval', '1s', '--log-level', 'info']);
      // The ready file is written after the guard is lifted; its log line follows it through the pipe.
      if (!(await p.until(() => p.log.includes('"stage":"ready file"') || !p.running, 20_000)) || !existsSync(ready)) throw new Error(`sidecar ${r} not ready: ${p.log}`);
      return p;
    };
    const metrics = async (r: 'a' | 'b'): Promise<string> => (await attempt('atk', addr4(r), PORTS.sidecarAdmin, 'GET /metrics HTTP/1.0\r\n\r\n')).data;

    // Pod A, and in parallel the attacker's real mesh identity (policy m, SANs the pods don't allow).
    const initA = initializer('a', HASH.a);
    const initM = initializer('atk', HASH.m, ['--no-guard']);
    const [exitA, exitM] = await Promise.all([initA.exited, initM.exited]);
    if (!t.equal(exitA.code, 0, 'pod A: the initializer obtained its identity') || !t.equal(exitM.code, 0, 'the attacker obtained a mesh identity of workload m')) return;
    const appA = await app('a', 'A');
    const proxyA = await sidecar('a', 'b');

    // Pod B: its app comes up first, and the attacker opens a connection to it before the mesh exists.
    const appB = await app('b', 'B');
    const early = new Agent(topo.ns('atk'));
    agents.push(early);
    const conn = await early.request({ op: 'connect', host: addr4('b'), port: APP_PORT, timeoutMs: 3000 });
    t.match(conn, { ok: true }, '6. the attacker connects to app B before B\'s mesh exists');
    t.match(await early.request({ op: 'send', conn: conn.id, text: 'before-mesh', timeoutMs: 3000 }), { ok: true, data: 'B:before-mesh' }, '6. and talks to it in plaintext');

    const initB = initializer('b', HASH.b);
    if (!t.equal((await initB.exited).code, 0, 'pod B: the initializer obtained its identity')) return;
    // The attacker trusts the mesh's real root and CAs (public), so its side of every handshake can complete.
    const tlsM = { ca: readFileSync(dir('atk', 'tls', PATHS.rootCaFile), 'utf8') + readFileSync(dir('atk', 'tls', PATHS.meshCaFile), 'utf8'), cert: readFileSync(dir('atk', 'tls', PATHS.chainFile), 'utf8'), key: readFileSync(dir('atk', 'tls', PATHS.keyFile), 'utf8') };
    const appBData = (): string[] => appB.eventsOf('data').map((e) => String(e.text));

    await t.test('4. a pod whose sidecar has not started is unreachable (guard)', async (t) => {
      const before = appB.events.length;
      const [viaA, plain4, plain6, mesh4] = await Promise.all([
        attempt('a', EGRESS.v4.host, EGRESS.v4.port, 'no-sidecar-yet'),
        attempt('atk', addr4('b'), APP_PORT, 'plain', undefined, 1000),
        attempt('atk', addr6('b'), APP_PORT, 'plain', undefined, 1000),
        attempt('atk', addr4('b'), APP_PORT, 'mesh', tlsM, 1000),
      ]);
      t.equal(viaA.data, '', 'A → B through A\'s egress gets no answer: B\'s guard drops the handshake');
      t.match(plain4, { connected: false }, 'plaintext to B:8080 does not even connect (IPv4)');
      t.match(plain6, { connected: false }, 'nor over IPv6');
      t.match(mesh4, { connected: false }, 'a valid mesh certificate does not help');
      t.equal(appB.events.length, before, 'app B saw nothing');
    });

    const proxyB = await sidecar('b', 'a');

    await t.test('4. … and reachable once its sidecar is up', async (t) => {
      t.match(await attempt('a', EGRESS.v4.host, EGRESS.v4.port, 'now'), { data: 'B:now' }, 'A → B works');
      t.match(appB.eventsOf('data').find((e) => e.text === 'now'), { remoteAddress: '127.0.0.1' }, 'through B\'s sidecar');
      // The request app A sent while B was closed: its client half-closed and gave up, but A's sidecar keeps
      // retrying the SYN until its handshake timeout — so it is either delivered now, through B's sidecar, or
      // dropped by A's sidecar. Wait for one of the two so later subtests count only their own traffic.
      const settled = async (): Promise<boolean> => appBData().includes('no-sidecar-yet') || new RegExp(`ccmesh_proxy_connections_total\\{direction="outbound",port="${APP_PORT}",peer="[^"]*",result="(refused|upstream-error)"[^}]*\\} [1-9]`).test(await metrics('a'));
      const deadline = Date.now() + 20_000;
      while (!(await settled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      t.ok(await settled(), 'the request A sent while B was closed is settled');
      const late = appB.eventsOf('data').find((e) => e.text === 'no-sidecar-yet');
      if (late !== undefined) t.match(late, { remoteAddress: '127.0.0.1' }, 'it was delivered late, but only through B\'s sidecar (mTLS)');
    });

    await t.test('6. a connection opened before the mesh came up is cut', async (t) => {
      const r = await early.request({ op: 'send', conn: conn.id, text: 'after-mesh', timeoutMs: 2000 });
      t.match(r, { ok: false }, 'the old connection gets no answer any more');
      t.notOk(appBData().includes('after-mesh'), 'and app B never received its bytes');
      t.equal(appB.eventsOf('accept').filter((e) => e.remoteAddress !== '127.0.0.1').length, 1, 'the only non-loopback connection app B ever accepted is the pre-mesh one');
    });

    await t.test('1. app → egress listener → mTLS → peer sidecar → app, both directions, IPv4 and IPv6', async (t) => {
      for (const [from, to, toApp] of [['a', 'b', appB], ['b', 'a', appA]] as const) {
        for (const fam of ['v4', 'v6'] as const) {
          const text = `${from}-to-${to}-${fam}`;
          const r = await attempt(from, EGRESS[fam].host, EGRESS[fam].port, text, undefined, 5000);
          t.match(r, { connected: true, data: `${to.toUpperCase()}:${text}` }, `${from.toUpperCase()} → ${to.toUpperCase()} over IP${fam}: echoed by app ${to.toUpperCase()}`);
          const seen = toApp.eventsOf('data').find((e) => e.text === text);
          t.match(seen, { remoteAddress: '127.0.0.1' }, `app ${to.toUpperCase()} received exactly the bytes, from its own sidecar (loopback)`);
          t.equal(toApp.eventsOf('data').filter((e) => e.text === text).length, 1, 'exactly once');
        }
      }
      // The sidecars run with their defaults: each app connection went over the pooled tunnel, not its own handshake.
      for (const r of ['a', 'b'] as const) {
        t.match(await metrics(r), /ccmesh_proxy_tunnel_streams_total\{direction="outbound",result="ok"[^}]*\} [1-9]/, `${r.toUpperCase()}'s sidecar carried them as tunnel streams`);
      }
    });

    await t.test('2. the attacker\'s plaintext connection to app B\'s port gets no byte of app data', async (t) => {
      const before = appB.events.length;
      for (const host of [addr4('b'), addr6('b')]) {
        const r = await attempt('atk', host, APP_PORT, 'GET / HTTP/1.1\r\nHost: b\r\n\r\n');
        t.notMatch(r.data, /B:/, `plaintext to ${host}:${APP_PORT}: nothing from the app (got ${JSON.stringify(r.data.slice(0, 40))})`);
      }
      t.equal(appB.events.length, before, 'app B saw no connection and no byte');
      const mb = await metrics('b');
      t.match(mb, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="not-tls"[^}]*\} 2/, 'B\'s sidecar refused both as not TLS');
    });

    await t.test('3. a certificate from another CA, or a mesh certificate whose SAN is not allowed, is refused', async (t) => {
      const other = await TestMesh.create('other.local');
      const forged = await other.leaf([SAN.a], { workload: 'a' });
      // The forger trusts B's real server certificate, so only B's decision can stop it.
      const forgedTls = { ca: tlsM.ca, cert: forged.files.chain, key: forged.files.key };
      const before = appB.events.length;
      for (const host of [addr4('b'), addr6('b')]) {
        const f = await attempt('atk', host, APP_PORT, 'forged', forgedTls);
        t.match(f, { secure: true, data: '' }, `${host}: a leaf with B's allowed SAN from another CA is refused`);
        const m = await attempt('atk', host, APP_PORT, 'mallory', tlsM);
        t.match(m, { secure: true, data: '' }, `${host}: workload m's real mesh leaf (SAN ${SAN.m}) is refused on B's port`);
      }
      t.equal(appB.events.length, before, 'app B saw nothing of it');
      const m = await metrics('b');
      t.match(m, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="untrusted-cert"[^}]*\} 2/, 'counted: untrusted-cert ×2');
      t.match(m, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="san-not-allowed"[^}]*\} 2/, 'counted: san-not-allowed ×2');
      // Control: the same mesh leaf is a valid identity — B's sidecar accepts it on an unlisted port (any mesh
      // identity, mTLS). Nothing listens behind it, so the connection gets no data, but no SAN refusal is counted.
      await attempt('atk', addr4('b'), 9999, 'control', tlsM);
      const after = await metrics('b');
      t.match(after, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="san-not-allowed"[^}]*\} 2/, 'control: m\'s leaf is not refused on an unlisted port…');
      t.match(after, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="untrusted-cert"[^}]*\} 2/, '… nor counted untrusted: only the SAN kept it off 8080');
    });

    // The attacker's own PKI: a root and mesh CA the mesh's root never signed (what a host can make at will).
    const foreign = await TestMesh.create('ccmesh.local');
    const foreignA = await foreign.leaf([SAN.a], { workload: 'e2e/a' });

    await t.test('12. the host adds a CA of its own to the mesh CA bundle B\'s sidecar reloads: a client with a leaf from that CA is still refused', async (t) => {
      const bundlePath = dir('b', 'tls', PATHS.meshCaFile);
      const original = readFileSync(bundlePath, 'utf8');
      const reloads = (): number => (proxyB.log.match(/"credential generation (rejected|applied)/g) ?? []).length;
      const before = reloads();
      writeFileSync(bundlePath, original + foreign.meshCas[0]!.certPem);
      t.ok(await proxyB.until(() => reloads() > before, 10_000), 'B\'s sidecar re-read its TLS directory');
      t.match(proxyB.log.split('\n').filter((l) => l.includes('"credential generation')).at(-1), /credential generation rejected.*is not a CA issued by the root/, 'and refused the generation: the added CA is not issued by the root');
      const seen = appB.events.length;
      for (const host of [addr4('b'), addr6('b')]) {
        const r = await attempt('atk', host, APP_PORT, 'injected-ca', { ca: tlsM.ca, cert: foreignA.files.chain, key: foreignA.files.key });
        t.match(r, { data: '' }, `${host}: a leaf with B's allowed SAN from the injected CA gets nothing`);
      }
      t.equal(appB.events.length, seen, 'app B saw nothing of it');
      t.match(await metrics('b'), /ccmesh_proxy_credential_reloads_total\{result="rejected"[^}]*\} [1-9]/, 'counted as a rejected reload');
      writeFileSync(bundlePath, original);
      t.match(await attempt('a', EGRESS.v4.host, EGRESS.v4.port, 'after-injection', undefined, 5000), { data: 'B:after-injection' }, 'control: B still serves its real peers');
    });

    await t.test('13. the host hands A\'s egress connection to B to a server of its own: A\'s sidecar refuses it before any app byte', async (t) => {
      // The impostor holds B's address and presents B's SAN (and B's IP addresses) under its own CA; then a real
      // mesh leaf of another workload (m), which chains to the mesh but lacks B's SAN.
      const impostor = await foreign.leaf([SAN.b, addr4('b'), addr6('b')], { workload: 'e2e/b' });
      // With the tunnel (the default), A still holds a pooled connection to the real B for each family. Once B's
      // addresses are the attacker's, a stream on it meets a TCP reset (no such connection there): the pooled
      // connection closed before any response, so the stream is retried once on a new pooled connection — a new dial,
      // which reaches the impostor. So the control below holds both with and without the tunnel.
      const undo = await topo.takeOver('b', 'atk');
      try {
        for (const [label, cert, key, reason] of [
          ['a certificate from its own CA with B\'s SAN', impostor.files.chain, impostor.files.key, 'server-untrusted'],
          ['workload m\'s real mesh leaf', tlsM.cert, tlsM.key, 'server-san-mismatch'],
        ] as const) {
          const fake = topo.spawn('atk', 'fake-b', NODE, [FAKE_SERVER_JS, JSON.stringify({ port: APP_PORT, cert, key })]);
          if (!(await fake.until(() => fake.eventsOf('listening').length > 0, 10_000))) throw new Error(`the fake server did not listen: ${fake.log}`);
          const failures = (m: string): number => Number(new RegExp(`ccmesh_proxy_tls_handshake_failures_total\\{direction="outbound",port="[^"]*",reason="${reason}"[^}]*\\} (\\d+)`).exec(m)?.[1] ?? 0);
          const counted = failures(await metrics('a'));
          for (const fam of ['v4', 'v6'] as const) {
            const r = await attempt('a', EGRESS[fam].host, EGRESS[fam].port, `to-impostor-${fam}`, undefined, 3000);
            t.equal(r.data, '', `${label}, IP${fam}: app A gets no answer`);
          }
          t.ok(fake.eventsOf('accept').length >= 2, `${label}: control — A's sidecar did reach the impostor at B's address`);
          t.same(fake.eventsOf('data'), [], `${label}: the impostor received no application byte`);
          t.same(fake.eventsOf('secure'), [], `${label}: no handshake completed`);
          t.ok(failures(await metrics('a')) >= counted + 2, `${label}: A's sidecar counted both as ${reason}`);
          await fake.close();
        }
      } finally {
        await undo();
      }
      t.match(await attempt('a', EGRESS.v4.host, EGRESS.v4.port, 'after-takeover', undefined, 5000), { data: 'B:after-takeover' }, 'control: with its address back, B is reached again');
    });

    await t.test('7. manifest update while traffic flows: new mesh CA, zero failed requests, no restart', async (t) => {
      const pids = { a: proxyA.child.pid, b: proxyB.child.pid };
      const loops = {
        a: topo.spawn('a', 'loop-a', NODE, [LOOP_JS, JSON.stringify({ ...EGRESS.v4, tag: 'a2b', expect: 'B:', timeoutMs: 5000, pauseMs: 20 })]),
        b: topo.spawn('b', 'loop-b', NODE, [LOOP_JS, JSON.stringify({ ...EGRESS.v6, tag: 'b2a', expect: 'A:', timeoutMs: 5000, pauseMs: 20 })]),
      };
      const oks = (p: Proc): number => p.eventsOf('r').filter((e) => e.ok === true).length;
      t.ok(await loops.a.until(() => oks(loops.a) >= 5, 10_000) && (await loops.b.until(() => oks(loops.b) >= 5, 10_000)), 'both request loops are running');

      const bundleBefore = readFileSync(join(ws, 'mesh-ca.pem'), 'utf8');
      const edited = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestDoc;
      edited.policies[HASH.a]!.sans.push('a2.e2e.svc');
      // Workload m leaves the mesh with this update (its leaf stays valid, but must not renew: 14.).
      delete edited.policies[HASH.m];
      rmSync(join(ws, 'policies', 'm.rego'));
      writeFileSync(manifestPath, JSON.stringify(edited, null, 2));
      const okAtSet = oks(loops.a) + oks(loops.b);
      const set2 = await run('coord', ['set', '-c', `127.0.0.1:${PORTS.coordinatorUser}`, '--dir', ws]);
      if (!t.equal(set2.code, 0, 'the owner-signed update is set')) t.comment(set2.out);
      t.match(set2.out, /update/, 'set reports an update');
      const before = new Set(pemCerts(bundleBefore).map((c) => c.fingerprint256));
      const fresh = pemCerts(readFileSync(join(ws, 'mesh-ca.pem'), 'utf8')).filter((c) => !before.has(c.fingerprint256));
      if (!t.equal(fresh.length, 1, 'the update made exactly one new mesh CA')) return;
      const newCa = fresh[0]!;

      const leafOf = (r: 'a' | 'b'): X509Certificate | undefined => pemCerts(readFileSync(dir(r, 'tls', PATHS.chainFile), 'utf8'))[0];
      const renewed = (r: 'a' | 'b'): boolean => {
        const leaf = leafOf(r);
        return leaf !== undefined && leaf.checkIssued(newCa) && leaf.verify(newCa.publicKey);
      };
      // Polled: the files are written by the sidecars; the contract is trust at the next poll (1 s), renewal 2 s later.
      const deadline = Date.now() + 20_000;
      while (!(renewed('a') && renewed('b')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      t.ok(renewed('a'), 'pod A\'s chain.pem leaf is issued (and signed) by the NEW mesh CA');
      t.ok(renewed('b'), 'pod B\'s too');
      t.match(leafOf('a')?.subjectAltName ?? '', /DNS:a2\.e2e\.svc/, 'A\'s new leaf carries the SAN the update added');
      t.ok(oks(loops.a) + oks(loops.b) > okAtSet, 'requests completed during the transition');
      // Traffic keeps flowing on the new leaves: at least a few more requests each way after both renewed.
      const [okA, okB] = [oks(loops.a), oks(loops.b)];
      t.ok(await loops.a.until(() => oks(loops.a) >= okA + 5, 10_000) && (await loops.b.until(() => oks(loops.b) >= okB + 5, 10_000)), 'requests still succeed after the renewal');
      await Promise.all([loops.a.close(), loops.b.close()]);
      for (const r of ['a', 'b'] as const) {
        const summary = loops[r].events.find((e) => e.ok !== undefined && e.failed !== undefined && e.event === undefined) as { ok: number; failed: number; failures: unknown[] } | undefined;
        t.ok(summary !== undefined && summary.ok >= 10, `loop ${r}: ${summary?.ok ?? 0} requests succeeded`);
        t.equal(summary?.failed, 0, `loop ${r}: zero failed requests (${JSON.stringify(summary?.failures.slice(0, 3))})`);
      }
      t.same({ a: proxyA.child.pid, b: proxyB.child.pid }, pids, 'the same sidecar processes');
      t.ok(proxyA.running && proxyB.running, 'still running: no restart');
      t.match(await metrics('a'), /ccmesh_proxy_trust_bundle_polls_total\{result="adopted"[^}]*\} [1-9]/, 'A adopted the new bundle by polling');
    });

    await t.test('14. RenewMeshCert on the real Coordinator refuses a leaf of a foreign CA and a leaf whose policy left the manifest', async (t) => {
      const renew = async (chain: string, key: string): Promise<{ ok: boolean; error?: string; leafSubjectAltName?: string }> => {
        const r = await topo.exec('atk').run(NODE, [RENEW_JS, JSON.stringify({ coordinator: COORD_MESH, chain, key })]);
        if (r.code !== 0) throw new Error(`renew client failed (${r.code}): ${r.stderr}`);
        return JSON.parse(r.stdout) as { ok: boolean; error?: string };
      };
      // A leaf that names pod A's policy and SAN, from a CA the mesh's root never signed, its key held by the attacker.
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const forged = await issueLeaf({ publicKey: key, sans: [SAN.a], spiffeId: 'spiffe://ccmesh.local/e2e/a', policyHash: HASH.a, lifetimeMs: 3600_000, meshCa: foreign.meshCas[0]!, clock: systemClock });
      const foreignRenewal = await renew(forged.certPem + foreign.meshCas[0]!.certPem, key.export({ type: 'pkcs8', format: 'pem' }).toString());
      t.match(foreignRenewal, { ok: false, error: /RenewMeshCert: UNAUTHENTICATED: the presented leaf was not issued by the current or previous mesh CA/ }, 'a foreign CA\'s leaf is refused for its issuer');
      const revoked = await renew(tlsM.cert, tlsM.key);
      t.match(revoked, { ok: false, error: new RegExp(`RenewMeshCert: PERMISSION_DENIED: policy ${HASH.m} of the presented leaf is no longer in the manifest`) }, 'm\'s real, still valid leaf is refused: its policy left the manifest');
      // Control: the same request with pod A's own credentials renews.
      const own = await renew(readFileSync(dir('a', 'tls', PATHS.chainFile), 'utf8'), readFileSync(dir('a', 'tls', PATHS.keyFile), 'utf8'));
      t.match(own, { ok: true, leafSubjectAltName: /DNS:a\.e2e\.svc/ }, `control: pod A's own leaf renews through the same client (${own.error ?? 'ok'})`);
    });

    await t.test('8. a config file whose digest does not match: no secret, the pod never opens', async (t) => {
      const appC = await app('c', 'C');
      const init = initializer('c', HASH.c);
      const exit = await init.exited;
      t.not(exit.code, 0, `the initializer exits non-zero (${exit.code})`);
      t.match(init.log, /app\.yaml: mismatch/, 'and names the file');
      t.match(init.log, /CCMESH_ERR_CONFIG_DIGEST_MISMATCH|configDigests/, 'as a config digest mismatch');
      t.notOk(existsSync(dir('c', 'tls', PATHS.keyFile)), 'no key.pem');
      t.notOk(existsSync(dir('c', 'secrets', 'workload-secret')), 'no workload secret');
      const save = await topo.exec('c').run('iptables-save', ['-t', 'filter']);
      t.match(save.stdout, new RegExp(`-A INPUT -j ${CHAIN.guard}`), 'the guard is installed');
      t.match(await attempt('atk', addr4('c'), APP_PORT, 'hello', undefined, 1000), { connected: false }, 'pod c is unreachable over IPv4');
      t.match(await attempt('atk', addr6('c'), APP_PORT, 'hello', undefined, 1000), { connected: false }, 'and IPv6');
      t.equal(appC.eventsOf('accept').length, 0, 'its app saw nothing');
    });

    await t.test('10. a config file the host changes after the pod started: the app keeps reading the verified copy', async (t) => {
      // What inject pins: --config-volume NAME=MOUNT; the copy dir stands in for the pod's /ccmesh-config volumes.
      const copies = dir('e', 'ccmesh-config');
      const init = initializer('e', HASH.e, ['--config-volume', `settings=${cfgMountE}`, '--config-copy-dir', copies]);
      const exit = await init.exited;
      if (!t.equal(exit.code, 0, 'the initializer verified the config, copied it and obtained its identity')) return;
      const copied = join(copies, 'settings', 'app.yaml');
      t.same(readdirSync(join(copies, 'settings')), ['app.yaml'], 'the copy holds the pinned file under its visible name, no ..data');
      const appE = topo.spawn('e', 'app-e', NODE, [APP_JS, 'E', String(APP_PORT), copied]);
      t.ok(await appE.until(() => appE.eventsOf('listening').length > 0, 10_000), 'the app reads its config from the copy');
      const ask = async (): Promise<string> => (await attempt('e', '127.0.0.1', APP_PORT, '?config', undefined, 3000)).data;
      t.equal(await ask(), 'E:port: 8080\n', 'the app reads the pinned content');

      // The host changes the volume the way the kubelet syncs an update (new dir, ..data swapped), then in place.
      const ts2 = join(cfgMountE, '..2026_12_01_00_00_00.2');
      mkdirSync(ts2);
      writeFileSync(join(ts2, 'app.yaml'), 'port: 6666\nadmin: open\n');
      symlinkSync('..2026_12_01_00_00_00.2', join(cfgMountE, '..data_tmp'));
      renameSync(join(cfgMountE, '..data_tmp'), join(cfgMountE, '..data'));
      writeFileSync(join(cfgMountE, '..2026_11_26_00_00_00.1', 'app.yaml'), 'port: 7777\n');
      t.equal(readFileSync(join(cfgMountE, 'app.yaml'), 'utf8'), 'port: 6666\nadmin: open\n', 'control: the host-synced volume changed');
      t.equal(await ask(), 'E:port: 8080\n', 'the running app still reads exactly the verified bytes');
      await appE.close();
    });

    await t.test('9. a pod whose policy hash is not in the manifest never gets a certificate', async (t) => {
      const init = initializer('d', HASH.d);
      const failed = (): number => init.log.split('\n').filter((l) => l.includes('attestation attempt failed')).length;
      t.ok(await init.until(() => failed() >= 3 || !init.running, 15_000), 'the initializer keeps retrying');
      t.ok(init.running, 'still running (it retries, it does not give up)');
      t.ok(failed() >= 3, `${failed()} failed attempts logged`);
      await init.kill('SIGKILL');
      t.match(init.log, /not in the manifest/, 'each attempt names the reason');
      const tls = dir('d', 'tls');
      t.same(existsSync(tls) ? readdirSync(tls) : [], [], 'its TLS directory is empty');
      t.notOk(existsSync(dir('d', 'secrets', 'workload-secret')), 'no workload secret');
    });

    await t.test('15. the host routes a new pod\'s Coordinator connection to a Coordinator of its own: no evidence of the pod leaves it, no identity', async (t) => {
      // The attacker's Coordinator: the real binary, the Coordinator's policy hash and launch measurement, on a
      // simulated platform of its own (its own ARK: the host can't sign with the real platform's keys).
      const atkSim = dir('atk', 'sim');
      const init = await slow.run(NODE, [BIN, 'attest', 'simulate', 'init', '--out', atkSim, '--host-data', HASH.coord, '--measurement', simMeasurement]);
      if (!t.equal(init.code, 0, 'the attacker\'s simulated platform')) return;
      const fakeCoordinator = topo.spawn('atk', 'coordinator-fake', NODE, [BIN, 'coordinator', '--store', `file:${dir('atk', 'store')}`, '--tee', 'simulated', '--sim-dir', atkSim, '--listen-host', '0.0.0.0', '--log-level', 'warn']);
      const fakeMetrics = async (): Promise<string> => (await attempt('atk', '127.0.0.1', PORTS.coordinatorMetrics, 'GET /metrics HTTP/1.0\r\n\r\n')).data;
      const deadline = Date.now() + 20_000;
      while (!(await fakeMetrics()).includes('ccmesh_coordinator') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const undo = await topo.redirectToCoordinator('d', PORTS.coordinatorMesh, 'atk');
      let pod: Proc;
      try {
        // A new replica of pod A (A's pinned args and policy hash) in namespace d.
        pod = initializer('d', HASH.a);
        const failed = (): number => (pod.log.match(/attestation attempt failed/g) ?? []).length;
        t.ok(await pod.until(() => failed() >= 2 || !pod.running, 15_000), 'the pod keeps retrying');
        t.ok(pod.running, 'and never gets an identity');
        await pod.kill('SIGKILL');
      } finally {
        await undo();
      }
      t.match(pod.log, new RegExp(`the Coordinator at ${COORD_MESH.replace(/\./g, '\\.')} failed attestation against the local manifest: ARK certificate \\([^)]*\\) is not a pinned trust anchor`), 'each attempt refuses the Coordinator\'s evidence: its root is not a pinned one');
      const seen = await fakeMetrics();
      t.match(seen, /ccmesh_coordinator_rpc_handled_total\{[^}]*method="Attest"/, 'control: the pod\'s connections reached the attacker\'s Coordinator');
      t.notMatch(seen, /method="GetNonce"/, 'the pod asked it for no nonce');
      t.notMatch(seen, /method="NewMeshCert"/, 'and sent it no evidence and no key');
      t.same(existsSync(dir('d', 'tls')) ? readdirSync(dir('d', 'tls')) : [], [], 'no credential file');
      t.notOk(existsSync(dir('d', 'secrets', 'workload-secret')), 'no workload secret');
      const save = await topo.exec('d').run('iptables-save', ['-t', 'filter']);
      t.match(save.stdout, new RegExp(`-A INPUT -j ${CHAIN.guard}`), 'the pod stays closed behind its guard');
      await fakeCoordinator.kill('SIGKILL');
    });

    await t.test('5. killing the sidecar leaves the pod closed, not open', async (t) => {
      await proxyB.kill('SIGKILL');
      const before = appB.events.length;
      const [via4, via6, ...direct] = await Promise.all([
        attempt('a', EGRESS.v4.host, EGRESS.v4.port, 'after-kill'),
        attempt('a', EGRESS.v6.host, EGRESS.v6.port, 'after-kill'),
        ...[addr4('b'), addr6('b')].flatMap((host) => [attempt('atk', host, APP_PORT, 'plain-after-kill', undefined, 1000), attempt('atk', host, APP_PORT, 'mesh-after-kill', tlsM, 1000)]),
      ]);
      t.equal(via4?.data, '', 'A → B through the mesh: no answer');
      t.equal(via6?.data, '', 'nor over IPv6');
      for (const [i, host] of [addr4('b'), addr6('b')].entries()) {
        t.match(direct[2 * i], { connected: false, data: '' }, `plaintext to ${host}: not even a TCP connection (captured to a port nobody serves)`);
        t.match(direct[2 * i + 1], { connected: false, data: '' }, `a mesh client to ${host}: the same`);
      }
      t.equal(appB.events.length, before, 'app B saw nothing');
    });

    await t.test('11. the host wipes the Coordinator\'s store, restarts it and another party sets its own manifest with the same policy hashes: a new pod with the same pinned args refuses and gets no secret; pod A\'s sidecar keeps serving traffic', async (t) => {
      const bundleA = readFileSync(dir('a', 'tls', PATHS.meshCaFile), 'utf8');
      await coordinator.kill('SIGKILL');
      rmSync(join(work, 'store'), { recursive: true, force: true });
      const wiped = topo.spawn('coord', 'coordinator-wiped', NODE, coordinatorArgs);
      // Another party: its own keys, the mesh's policy hashes and documents (public), the same genuine Coordinator.
      const other = join(work, 'other-workspace');
      const otherInit = await slow.run(NODE, [BIN, 'manifest', 'init', '--dir', other, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', simMeasurement]);
      if (!t.equal(otherInit.code, 0, 'another party\'s workspace')) return;
      const theirs = JSON.parse(readFileSync(join(other, 'manifest.json'), 'utf8')) as ManifestDoc;
      for (const r of ['coord', 'a', 'b', 'c', 'e'] as const) writeFileSync(join(other, 'policies', `${r}.rego`), DOCS[r]);
      // First it tries the owner's own manifest — its keys are public, so its pin is the pods' pin — but the first
      // set must be signed by a key that manifest names, which it does not hold.
      writeFileSync(join(other, 'manifest.json'), readFileSync(manifestPath));
      const setVictims = await run('coord', ['set', '-c', `127.0.0.1:${PORTS.coordinatorUser}`, '--dir', other, '--wait', '60s']);
      t.not(setVictims.code, 0, 'setting the owner\'s own manifest without the owner\'s key is refused');
      t.match(setVictims.out, /PERMISSION_DENIED: ownerKey is not one of the manifest's own workloadOwnerKeys/, 'by the Coordinator: the first set is signed by a key of the manifest');
      theirs.policies = (JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestDoc).policies;
      writeFileSync(join(other, 'manifest.json'), JSON.stringify(theirs, null, 2));
      const setOther = await run('coord', ['set', '-c', `127.0.0.1:${PORTS.coordinatorUser}`, '--dir', other, '--wait', '60s']);
      if (!t.equal(setOther.code, 0, 'it sets its manifest on the wiped, restarted Coordinator')) {
        t.comment(setOther.out);
        return;
      }
      const otherOwner = readFileSync(join(other, 'mesh-owner'), 'utf8').trim();
      t.not(otherOwner, meshOwner, 'under another mesh owner');

      // A new replica of pod A (its policy hash, A's pinned args) starts in namespace d.
      const init = initializer('d', HASH.a);
      const failed = (): number => (init.log.match(/attestation attempt failed/g) ?? []).length;
      t.ok(await init.until(() => failed() >= 2 || !init.running, 15_000), 'the new pod keeps retrying');
      t.ok(init.running, 'and never gets an identity');
      await init.kill('SIGKILL');
      t.match(init.log, new RegExp(`genuine but serves mesh owner ${otherOwner}, not the pinned ${meshOwner}`), 'each attempt refuses the genuine Coordinator of another owner');
      t.same(existsSync(dir('d', 'tls')) ? readdirSync(dir('d', 'tls')) : [], [], 'no credential file');
      t.notOk(existsSync(dir('d', 'secrets', 'workload-secret')), 'no workload secret');
      const coordMetrics = (await attempt('coord', '127.0.0.1', PORTS.coordinatorMetrics, 'GET /metrics HTTP/1.0\r\n\r\n')).data;
      t.match(coordMetrics, /ccmesh_coordinator_rpc_handled_total\{[^}]*method="Attest"/, 'control: the metrics answer is the restarted Coordinator\'s');
      t.notMatch(coordMetrics, /method="NewMeshCert"/, 'the pod never sent its evidence: no NewMeshCert reached the Coordinator');
      // Control: only the owner pin stood in the way — the same pod without it joins the other party's mesh.
      const unpinned = initializer('c', HASH.a, [], ['--any-mesh-owner']);
      t.equal((await unpinned.exited).code, 0, 'control: with --any-mesh-owner the same pod obtains an identity from the other party\'s mesh');
      t.match(unpinned.log, /SECURITY: the Coordinator's mesh owner is not checked/, 'and is warned about it');

      // Pod A keeps its mesh: its sidecar refuses the new mesh's CAs and serves traffic on its credentials.
      t.ok(await proxyA.until(() => /GetTrustBundle answer refused: .*root other than the pinned one/.test(proxyA.log), 10_000), 'A\'s sidecar polls the restarted Coordinator and refuses the other mesh\'s bundle (another root)');
      t.equal(readFileSync(dir('a', 'tls', PATHS.meshCaFile), 'utf8'), bundleA, 'and keeps its mesh CA bundle');
      const tlsB = { ca: readFileSync(dir('b', 'tls', PATHS.rootCaFile), 'utf8') + readFileSync(dir('b', 'tls', PATHS.meshCaFile), 'utf8'), cert: readFileSync(dir('b', 'tls', PATHS.chainFile), 'utf8'), key: readFileSync(dir('b', 'tls', PATHS.keyFile), 'utf8') };
      const served = await attempt('atk', addr4('a'), APP_PORT, 'after-takeover', tlsB, 5000);
      t.match(served, { secure: true, data: 'A:after-takeover' }, 'a client with B\'s mesh identity still reaches app A through A\'s sidecar');
      t.match(appA.eventsOf('data').find((e) => e.text === 'after-takeover'), { remoteAddress: '127.0.0.1' }, 'app A received it from its sidecar');
      t.ok(proxyA.running && wiped.running, 'A\'s sidecar and the restarted Coordinator still run');
    });
  });
}
