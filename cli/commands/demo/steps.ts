/**
 * The demo's steps 2–7: Coordinator, manifest, two pods, traffic, a plaintext attempt, metrics. Each runs the real
 * `ccmesh` binary (or the stand-in app) at its place and reports one line; a check that fails is recorded and the
 * run goes on where that still makes sense, a step that can't go on throws {@link StepFailed}.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { PORTS } from '../../../lib/mesh-ports.js';
import type { GetResult, PlaintextResult, RequestsResult } from './agent.js';
import { nonZero, parseSamples, total } from './metrics-excerpt.js';
import { type Child, type Children, type Finished, tail } from './processes.js';
import { fmt, type Report } from './report.js';
import type { Place, Role, Topology } from './topology.js';
import { makeDirs } from '../../../lib/fs/make-dirs.js';

/** A step that cannot continue; the message says what failed, `detail` holds the child's output. */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(message: string, readonly detail = '') {
    super(message);
  }
}

/** Ports of the run: fixed well-known ports in netns mode, free ones on loopback. */
export interface DemoPorts {
  readonly coordUser: number;
  readonly coordMesh: number;
  readonly coordMetrics: number;
  readonly backendApp: number;
  /** Where a client reaches backend's app port: the explicit mTLS listener (loopback) or the app port (captured). */
  readonly backendReach: number;
  readonly backendAdmin: number;
  readonly frontendAdmin: number;
  readonly frontendEgress: number;
}

/** Everything the steps share. */
export interface DemoContext {
  readonly topo: Topology;
  readonly kids: Children;
  readonly report: Report;
  readonly tmp: string;
  readonly ports: DemoPorts;
  readonly requests: number;
  readonly signal: AbortSignal | undefined;
}

/** The small documents whose SHA-256 are the pods' identities (HOST_DATA on the simulated platform). */
const POLICY_DOCS: Readonly<Record<'coordinator' | 'frontend' | 'backend', string>> = {
  coordinator: 'package ccmesh_demo\n# policy of the demo Coordinator\n',
  frontend: 'package ccmesh_demo\n# policy of the demo pod "frontend"\n',
  backend: 'package ccmesh_demo\n# policy of the demo pod "backend"\n',
};
/** Policy hash (hex SHA-256) of a demo policy document. */
export const policyHash = (who: keyof typeof POLICY_DOCS): string => createHash('sha256').update(POLICY_DOCS[who]).digest('hex');

const sim = (ctx: DemoContext): string => join(ctx.tmp, 'platform');
const ws = (ctx: DemoContext): string => join(ctx.tmp, 'workspace');
const podDir = (ctx: DemoContext, pod: string): string => join(ctx.tmp, 'pods', pod);
const at = (ctx: DemoContext, role: Role): Place => ctx.topo.places[role];
const host: Place = { ns: undefined, ip: '127.0.0.1' };

function ensure(r: Finished, what: string): Finished {
  if (r.code !== 0) throw new StepFailed(`${what} exited with ${r.code}`, tail(r.stderr + r.stdout));
  return r;
}

/** Waits for `until`, failing early if `child` exits first. */
async function whileRunning<T>(child: Child, what: string, until: Promise<T>): Promise<T> {
  const died = child.exited.then((code) => {
    throw new StepFailed(`${child.name} exited with ${code} while ${what}`, tail(child.stderr() + child.stdout()));
  });
  return Promise.race([until, died]);
}

/** Polls `cond` every 25 ms until true; throws on timeout or abort. */
async function poll(ctx: DemoContext, cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (ctx.signal?.aborted) throw new StepFailed(`interrupted while ${what}`);
    if (Date.now() > end) throw new StepFailed(`timed out after ${fmt(ms)} ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const coordinatorAddr = (ctx: DemoContext, port: number): string => `${at(ctx, 'coordinator').ip}:${port}`;

/** What a pod pins about its Coordinator (as `ccmesh generate --coordinator-policy` would put in its args). */
interface CoordinatorPins {
  readonly measurement: string;
  readonly meshOwner: string;
  readonly args: readonly string[];
}

/** The pins from the run's files: the simulated platform's launch measurement, the workspace's mesh-owner. */
async function coordinatorPins(ctx: DemoContext): Promise<CoordinatorPins> {
  const { measurement } = JSON.parse(await readFile(join(sim(ctx), 'platform.json'), 'utf8')) as { measurement: string };
  const meshOwner = (await readFile(join(ws(ctx), 'mesh-owner'), 'utf8').catch(() => '')).trim();
  return {
    measurement,
    meshOwner,
    args: ['--coordinator-policy', policyHash('coordinator'), '--coordinator-measurement', measurement, '--coordinator-root', join(sim(ctx), 'ark.pem'), '--mesh-owner', meshOwner],
  };
}

/** Step 2: the simulated platform and the Coordinator, up and answering its probes (not ready: no manifest yet). */
export async function startCoordinator(ctx: DemoContext): Promise<Child> {
  ensure(await ctx.kids.run('attest simulate init', host, ['attest', 'simulate', 'init', '--out', sim(ctx), '--host-data', policyHash('coordinator')]), 'ccmesh attest simulate init');
  const p = ctx.ports;
  const coordinator = ctx.kids.ccmesh('coordinator', at(ctx, 'coordinator'), [
    'coordinator', '--store', `file:${join(ctx.tmp, 'store')}`, '--tee', 'simulated', '--sim-dir', sim(ctx),
    ...(ctx.topo.mode === 'loopback' ? ['--listen-host', '127.0.0.1'] : []),
    '--user-port', String(p.coordUser), '--mesh-port', String(p.coordMesh), '--metrics-port', String(p.coordMetrics), '--log-level', 'warn',
  ]);
  const url = `http://127.0.0.1:${p.coordMetrics}`;
  const started = await whileRunning(coordinator, 'starting', ctx.kids.ask<GetResult>(at(ctx, 'coordinator'), { op: 'get', url: `${url}/probe/startup`, waitMs: 20_000 }));
  if (started.status !== 200) throw new StepFailed(`the Coordinator's /probe/startup answered ${started.status}: ${started.body}`, tail(coordinator.stderr()));
  const readiness = await ctx.kids.ask<GetResult>(at(ctx, 'coordinator'), { op: 'get', url: `${url}/probe/readiness`, waitMs: 0 });
  ctx.report.step(`Coordinator started on a simulated SEV-SNP platform, store file:${join(ctx.tmp, 'store')}`, [
    `user API ${coordinatorAddr(ctx, p.coordUser)}, mesh API ${coordinatorAddr(ctx, p.coordMesh)}; /probe/readiness: ${readiness.status} "${readiness.body.trim()}"`,
  ]);
  ctx.report.check(readiness.status === 503, 'the Coordinator reports not-ready before it has a manifest', `      got ${readiness.status} ${readiness.body}`);
  return coordinator;
}

/** Step 3: `manifest init`, three policies (Coordinator, frontend, backend), `set`; the Coordinator becomes ready. */
export async function setManifest(ctx: DemoContext): Promise<void> {
  // The simulated platform's launch measurement: the manifest pins it exactly as it would a real pod VM image's.
  const { measurement } = JSON.parse(await readFile(join(sim(ctx), 'platform.json'), 'utf8')) as { measurement: string };
  ensure(await ctx.kids.run('manifest init', host, ['manifest', 'init', '--dir', ws(ctx), '--simulated-root', join(sim(ctx), 'ark.pem'), '--snp-measurement', measurement]), 'ccmesh manifest init');
  const manifestPath = join(ws(ctx), 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { policies: Record<string, unknown> };
  for (const who of ['coordinator', 'frontend', 'backend'] as const) {
    manifest.policies[policyHash(who)] = { sans: [who], workloadSecretId: `demo/${who}`, role: who === 'coordinator' ? 'coordinator' : '' };
    await writeFileAtomic(join(ws(ctx), 'policies', `${who}.rego`), POLICY_DOCS[who], 0o644);
  }
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n', 0o644);
  const set = ensure(await ctx.kids.run('set', at(ctx, 'user'), ['set', '-c', coordinatorAddr(ctx, ctx.ports.coordUser), '--dir', ws(ctx), '--wait', '20s']), 'ccmesh set');
  const hash = /manifest ([0-9a-f]+)…/.exec(set.stdout)?.[1] ?? '?';
  const attested = /attested the Coordinator at \S+/.exec(set.stderr)?.[0];
  const readiness = await ctx.kids.ask<GetResult>(at(ctx, 'coordinator'), { op: 'get', url: `http://127.0.0.1:${ctx.ports.coordMetrics}/probe/readiness`, waitMs: 5000 });
  const pins = await coordinatorPins(ctx);
  ctx.report.step(`manifest set: hash ${hash}…, policies coordinator/frontend/backend (SANs = names); ${attested ?? 'attestation line missing'} first`, [
    `frontend host data ${policyHash('frontend').slice(0, 16)}…, backend host data ${policyHash('backend').slice(0, 16)}…; Coordinator /probe/readiness: ${readiness.status}`,
    `pods pin the Coordinator (policy ${policyHash('coordinator').slice(0, 16)}…, measurement ${pins.measurement.slice(0, 16)}…) and the mesh owner ${pins.meshOwner.slice(0, 16)}…: ` +
      'each initializer checks both in its evidence before sending its own',
  ]);
  ctx.report.check(attested !== undefined, '"ccmesh set" attested the Coordinator before setting the manifest', tail(set.stderr));
  ctx.report.check(/^[0-9a-f]{64}$/.test(pins.meshOwner), '"ccmesh set" wrote the mesh owner pin (WORKSPACE/mesh-owner) the pods pin', `      got ${JSON.stringify(pins.meshOwner)}`);
  ctx.report.check(readiness.status === 200, 'the Coordinator is ready once the manifest is set', `      got ${readiness.status} ${readiness.body}`);
}

/** A started pod: its sidecar and app processes. */
export interface Pod {
  readonly sidecar: Child;
  readonly app: Child | undefined;
}

/** Step 4 (per pod): initializer → sidecar (→ app for backend); prints attest-to-ready time. */
export async function startPod(ctx: DemoContext, pod: 'frontend' | 'backend'): Promise<Pod> {
  const dir = podDir(ctx, pod);
  await makeDirs(dir);
  const place = at(ctx, pod);
  const netns = ctx.topo.mode === 'netns';
  const pins = await coordinatorPins(ctx);
  const t0 = performance.now();
  const init = ensure(await ctx.kids.run(`${pod} initializer`, place, [
    'initializer', '--coordinator', coordinatorAddr(ctx, ctx.ports.coordMesh), '--tee', 'simulated', '--sim-dir', sim(ctx), '--host-data', policyHash(pod),
    '--tls-dir', join(dir, 'tls'), '--secret-path', join(dir, 'workload-secret'), '--log-level', 'warn', ...(netns ? [] : ['--no-guard']), ...pins.args,
  ], 30_000), `${pod} initializer`);
  const attested = performance.now();
  const p = ctx.ports;
  const readyFile = join(dir, 'ready');
  const common = ['--tls-dir', join(dir, 'tls'), '--ready-file', readyFile, '--drain', '1s', '--log-level', 'warn'];
  const loopbackOnly = (admin: number): string[] => (netns ? [] : ['--no-iptables', '--listen-host', '127.0.0.1', '--admin-host', '127.0.0.1', '--admin-port', String(admin)]);
  const args = pod === 'backend'
    ? ['proxy', '--ingress', `web#${p.backendApp}#mtls:allow=frontend`, ...loopbackOnly(p.backendAdmin), ...(netns ? [] : ['--inbound-port-map', `${p.backendApp}=${p.backendReach}`]), ...common]
    : ['proxy', '--egress', `backend#127.0.0.1:${p.frontendEgress}#${at(ctx, 'backend').ip}:${p.backendReach}`, '--egress-san', 'backend=backend', ...loopbackOnly(p.frontendAdmin), ...common];
  const sidecar = ctx.kids.ccmesh(`${pod} sidecar`, place, args);
  await whileRunning(sidecar, 'starting', poll(ctx, () => existsSync(readyFile), 20_000, `waiting for ${pod}'s sidecar to be ready`));
  const ready = performance.now();
  let app: Child | undefined;
  if (pod === 'backend') {
    app = ctx.kids.agent('backend app', place, { op: 'serve', host: '127.0.0.1', port: p.backendApp, name: 'backend' });
    await whileRunning(app, 'starting', poll(ctx, () => app!.stdout().includes('listening'), 10_000, 'waiting for the backend app'));
  }
  const san = new X509Certificate(readFileSync(join(dir, 'tls', 'chain.pem'))).subjectAltName ?? '';
  const what = netns
    ? `guard installed, attested, identity written; sidecar applied + verified its iptables rules, lifted the guard`
    : 'attested, identity written (--no-guard); sidecar listening without capture';
  ctx.report.step(`pod ${pod}: ${what} — attest-to-ready ${fmt(ready - t0)}`, [
    `initializer ${fmt(attested - t0)} (${init.stdout.includes('mesh identity written') ? 'mesh identity written' : 'no identity?'}), sidecar ${fmt(ready - attested)}; leaf ${san}`,
  ]);
  ctx.report.check(san.includes(`DNS:${pod}`), `${pod}'s leaf carries the SAN "${pod}" from the manifest`, `      got ${san}`);
  return { sidecar, app };
}

const servedCount = (app: Child | undefined): number => (app?.stdout().match(/^served /gm) ?? []).length;

/** Step 5: N requests frontend app → egress listener → mTLS → backend sidecar → backend app. */
export async function sendRequests(ctx: DemoContext, backendApp: Child | undefined): Promise<void> {
  const n = ctx.requests;
  const r = await ctx.kids.ask<RequestsResult>(at(ctx, 'frontend'), { op: 'requests', url: `http://127.0.0.1:${ctx.ports.frontendEgress}/`, count: n }, 60_000);
  const answers = r.bodies.map((b) => `"${b}"`).join(', ') || 'none';
  ctx.report.step(`${r.ok}/${n} requests ok, ${r.failed} failed: frontend app → 127.0.0.1:${ctx.ports.frontendEgress} (frontend sidecar) → mTLS → backend sidecar → backend app`, [
    `answers: ${answers}; the frontend sidecar required the server SAN "backend", backend's sidecar admits only SAN "frontend"`,
    ...(r.errors.length > 0 ? [`errors: ${r.errors.join('; ')}`] : []),
  ]);
  ctx.report.check(r.ok === n, `all ${n} requests succeed`, r.errors.map((e) => `      ${e}`).join('\n'));
  ctx.report.check(r.bodies.length === 1 && r.bodies[0] === 'hello from backend', 'every answer came from the backend app');
  ctx.report.check(servedCount(backendApp) === n, `the backend app served exactly ${n} requests`, `      it served ${servedCount(backendApp)}`);
}

/** Step 6: a plaintext HTTP request straight at backend's mTLS port from outside the mesh → refused. */
export async function plaintextAttempt(ctx: DemoContext, backendApp: Child | undefined): Promise<void> {
  const before = servedCount(backendApp);
  const target = `${at(ctx, 'backend').ip}:${ctx.ports.backendReach}`;
  const r = await ctx.kids.ask<PlaintextResult>(at(ctx, 'user'), { op: 'plaintext', host: at(ctx, 'backend').ip, port: ctx.ports.backendReach, timeoutMs: 3000 });
  const firstByte = r.received.length > 0 ? r.received.charCodeAt(0) : undefined;
  const answer = r.received.length === 0 ? 'no bytes back' : firstByte === 0x15 ? `${r.received.length} bytes back, a TLS alert record` : `${r.received.length} bytes back: ${JSON.stringify(r.received.slice(0, 40))}`;
  const how = ctx.topo.mode === 'netns' ? `to the app port ${target} from outside (captured → ${PORTS.inboundMtls})` : `to backend's explicit mTLS listener ${target}`;
  const refused = !r.received.startsWith('HTTP/') && !r.received.includes('hello from backend') && servedCount(backendApp) === before;
  ctx.report.step(`plaintext HTTP ${how}: ${refused ? 'refused' : 'NOT refused'} — ${r.connected ? 'TCP accepted by the sidecar' : 'no TCP connection'}, ${answer}, then ${r.ending}; the app saw nothing`);
  ctx.report.check(refused, 'a plaintext request never reaches the backend app');
}

/** Step 7: excerpts of backend's sidecar /metrics and the Coordinator's. */
export async function showMetrics(ctx: DemoContext): Promise<void> {
  const sidecar = await ctx.kids.ask<GetResult>(at(ctx, 'backend'), { op: 'get', url: `http://127.0.0.1:${ctx.ports.backendAdmin}/metrics`, waitMs: 3000 });
  const coord = await ctx.kids.ask<GetResult>(at(ctx, 'coordinator'), { op: 'get', url: `http://127.0.0.1:${ctx.ports.coordMetrics}/metrics`, waitMs: 3000 });
  const s = parseSamples(sidecar.body);
  const c = parseSamples(coord.body);
  const lines = [
    ...nonZero(s, 'ccmesh_proxy_connections_total', { direction: 'inbound' }),
    ...nonZero(s, 'ccmesh_proxy_tls_handshake_failures_total'),
    ...nonZero(c, 'ccmesh_coordinator_rpc_handled_total', { method: 'NewMeshCert' }),
  ].map((x) => x.line);
  ctx.report.step('metrics excerpt (backend sidecar /metrics, Coordinator /metrics):', lines.length > 0 ? lines : ['(no samples found)']);
  ctx.report.check(total(s, 'ccmesh_proxy_connections_total', { direction: 'inbound', result: 'ok' }) === ctx.requests, `backend's sidecar counts ${ctx.requests} inbound connections ok`);
  ctx.report.check(total(s, 'ccmesh_proxy_tls_handshake_failures_total', { direction: 'inbound', reason: 'not-tls' }) >= 1, 'backend\'s sidecar counts the plaintext attempt as a handshake failure (not-tls)');
  ctx.report.check(total(c, 'ccmesh_coordinator_rpc_handled_total', { method: 'NewMeshCert', code: 'OK' }) === 2, 'the Coordinator issued two mesh certificates (NewMeshCert OK = 2)');
}
