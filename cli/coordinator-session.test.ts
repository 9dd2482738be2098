/**
 * The clients' checks of the Coordinator (`coordinator-session.ts`, `ccmesh set` / `verify` / `recover`, the
 * initializer with `--coordinator-policy`), against fake Coordinators: real gRPC servers with their own TLS key that
 * speak the same protobuf messages (`lib/protocol/services.ts`) but answer `Attest` with evidence that is wrong in exactly
 * one way. Their evidence comes from the same simulated platform as the real Coordinator's (the harness's), so
 * everything but the one thing under test verifies; each case has a control that the same fake passes otherwise.
 * A refused fake must have received nothing but `Attest`: no manifest, no seed, no pod evidence.
 */
import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { initSimulatedPlatform, type SimulatedPlatform } from '../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../attestation/simulated/snp-issuer.js';
import { toWireEvidence } from '../attestation/issuers/wire-evidence.js';
import { parseManifest } from '../contract/manifest/parse.js';
import { Harness, sha256hex } from '../coordinator/test/harness.js';
import { MemoryStore } from '../coordinator/store/memory-store.js';
import { createServerTlsIdentity } from '../coordinator/tls/ephemeral-tls-identity.js';
import { systemClock } from '../lib/clock.js';
import { coordinatorReportData } from '../lib/protocol/binding.js';
import { PinnedClient } from '../lib/protocol/client.js';
import { formatMeshOwnerPin, NO_MESH_OWNER } from '../lib/protocol/mesh-owner.js';
import { type AttestRequest, type AttestResponse, COORDINATOR_STATE, type EvidenceMessage, type GetManifestsResponse, type GetNonceResponse, type UserApiMethods } from '../lib/protocol/messages.js';
import { decodeMessage } from '../lib/protocol/limits.js';
import { type ApiService, MeshApi, UserApi } from '../lib/protocol/services.js';
import { verifyCoordinator } from './coordinator-session.js';
import type { CliIo } from './io.js';
import { initializerCommand } from './commands/initializer.js';
import { manifestInitCommand } from './commands/mesh/manifest-init.js';
import { recoverCommand } from './commands/mesh/recover.js';
import { setCommand } from './commands/mesh/set.js';
import { meshVerifyCommand } from './commands/mesh/verify.js';

/** What a fake answers to Attest: the evidence message and the mesh owner it names. */
type AttestAnswer = (nonce: Uint8Array, fakeSpki: Uint8Array) => Promise<AttestResponse>;

/** A fake Coordinator on loopback: its own TLS key, both APIs' methods, every call recorded. */
class FakeCoordinator {
  readonly calls: string[] = [];
  readonly #server = new Server();
  port = 0;
  spki: Uint8Array = new Uint8Array();

  static async start(t: Test, service: ApiService<unknown>, attest: AttestAnswer): Promise<FakeCoordinator> {
    const fake = new FakeCoordinator();
    const tls = await createServerTlsIdentity(systemClock, ['localhost']);
    fake.spki = tls.spki;
    // Handlers take the decoded request (`call.request`) and answer a response message (bytes as Uint8Array).
    const record = (method: string, answer: (req: unknown) => Promise<unknown>) => (call: { request: unknown }, cb: (err: Error | null, res?: unknown) => void): void => {
      fake.calls.push(method);
      Promise.resolve().then(() => answer(call.request)).then((res) => cb(null, res), (err: Error) => cb(err));
    };
    const impl: UntypedServiceImplementation = {};
    // Every other method answers its empty message.
    for (const method of Object.keys(service.definition)) impl[method] = record(method, () => Promise.resolve({}));
    // The nonce checked as the Coordinator checks it (32 bytes).
    impl.Attest = record('Attest', (req) => attest((decodeMessage('Attest', 'AttestRequest', req) as unknown as AttestRequest).nonce, fake.spki));
    impl.GetNonce = record('GetNonce', () => Promise.resolve<GetNonceResponse>({ nonce: Buffer.alloc(32, 7) }));
    impl.GetManifests = record('GetManifests', () =>
      Promise.resolve<GetManifestsResponse>({ manifests: [], policies: {}, transitions: [], rootCa: '', meshCaBundle: '', state: COORDINATOR_STATE.fresh, meshOwner: '', recoveryStatus: '', readyPeers: 0 }));
    fake.#server.addService(service.definition, impl);
    fake.port = await new Promise<number>((resolve, reject) =>
      fake.#server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], false), (err, p) => (err ? reject(err) : resolve(p))));
    t.teardown(() => fake.#server.forceShutdown());
    return fake;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

/** Evidence from `platform` with HOST_DATA = SHA-256(`policyDoc`) over `reportData`, as the wire carries it. */
async function evidence(platform: SimulatedPlatform, policyDoc: Uint8Array, reportData: Uint8Array): Promise<EvidenceMessage> {
  const ev = await new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha256hex(policyDoc), 'hex') }).issue(reportData);
  return toWireEvidence(ev);
}

/** An honest answer from a Coordinator with the fake's key on `platform`: policy `doc`, binding `owner`. */
function honest(platform: SimulatedPlatform, doc: Uint8Array, owner: Uint8Array = NO_MESH_OWNER): AttestAnswer {
  return async (nonce, spki) => ({ evidence: await evidence(platform, doc, coordinatorReportData(spki, nonce, owner)), meshOwner: formatMeshOwnerPin(owner) });
}

/** A UserAPI PinnedClient to `fake`, closed at teardown. */
async function clientOf(t: Test, address: string): Promise<PinnedClient<UserApiMethods>> {
  const c = await PinnedClient.connect(address, UserApi);
  t.teardown(() => c.close());
  return c;
}

const OWNER = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const OTHER_OWNER = Uint8Array.from({ length: 32 }, (_, i) => 0xf0 - i);
const BINDING = /failed attestation against the local manifest: REPORT_DATA does not bind this request/;

void t.test('the Coordinator\'s evidence must bind the client\'s fresh nonce: replayed evidence is refused', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const manifest = parseManifest(h.manifest());
  let recorded: EvidenceMessage | undefined;
  // A fake that once produced genuine evidence for its own key and replays it from then on.
  const fake = await FakeCoordinator.start(t, UserApi, async (nonce, spki) => {
    recorded ??= await evidence(h.platform, h.coordinatorDoc, coordinatorReportData(spki, nonce, NO_MESH_OWNER));
    return { evidence: recorded, meshOwner: '' };
  });
  const client = await clientOf(t, fake.address);
  await t.resolves(verifyCoordinator(client, manifest), 'control: the first answer (made for that nonce) verifies');
  await t.rejects(verifyCoordinator(client, manifest), BINDING, 'the same evidence for the next Attest: refused');
});

void t.test('the Coordinator\'s evidence must bind the TLS key the client pinned: a relay is refused', async (t) => {
  const { h, user } = await Harness.started(t);
  const manifest = parseManifest(h.manifest());
  await t.resolves(verifyCoordinator(user, manifest), 'control: the real Coordinator, directly');
  // The relay terminates TLS with its own key and passes Attest on to the real Coordinator.
  const relay = await FakeCoordinator.start(t, UserApi, async (nonce) => {
    const res = await user.call('Attest', { nonce });
    return res;
  });
  await t.rejects(verifyCoordinator(await clientOf(t, relay.address), manifest), BINDING, 'the same genuine evidence through the relay: refused');
});

void t.test('the mesh owner a Coordinator names must be the one bound into its evidence', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const manifest = parseManifest(h.manifest());
  const claims = await FakeCoordinator.start(t, UserApi, async (nonce, spki) => ({
    evidence: await evidence(h.platform, h.coordinatorDoc, coordinatorReportData(spki, nonce, NO_MESH_OWNER)),
    meshOwner: formatMeshOwnerPin(OWNER),
  }));
  await t.rejects(verifyCoordinator(await clientOf(t, claims.address), manifest, undefined, OWNER), BINDING, 'evidence binding no owner, answer naming the pinned one: refused');
  const bound = await FakeCoordinator.start(t, UserApi, honest(h.platform, h.coordinatorDoc, OWNER));
  await t.resolves(verifyCoordinator(await clientOf(t, bound.address), manifest, undefined, OWNER), 'control: the same owner bound and named');
  const malformed = await FakeCoordinator.start(t, UserApi, async (nonce, spki) => ({ evidence: await evidence(h.platform, h.coordinatorDoc, coordinatorReportData(spki, nonce, NO_MESH_OWNER)), meshOwner: 'zz'.repeat(32) }));
  await t.rejects(verifyCoordinator(await clientOf(t, malformed.address), manifest), /at 127\.0\.0\.1:\d+ named a malformed mesh owner "z{64}"/, 'a malformed owner: refused by name');
});

void t.test('a genuine Coordinator serving another owner, or none, is refused when an owner is pinned', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const manifest = parseManifest(h.manifest());
  const other = await FakeCoordinator.start(t, UserApi, honest(h.platform, h.coordinatorDoc, OTHER_OWNER));
  const otherClient = await clientOf(t, other.address);
  await t.rejects(verifyCoordinator(otherClient, manifest, undefined, OWNER),
    new RegExp(`is genuine but serves mesh owner ${formatMeshOwnerPin(OTHER_OWNER)}, not the pinned ${formatMeshOwnerPin(OWNER)}`), 'another owner');
  await t.resolves(verifyCoordinator(otherClient, manifest, undefined, OTHER_OWNER), 'control: the owner it serves');
  const fresh = await FakeCoordinator.start(t, UserApi, honest(h.platform, h.coordinatorDoc));
  await t.rejects(verifyCoordinator(await clientOf(t, fresh.address), manifest, undefined, OWNER), /is genuine but serves no mesh \(fresh or awaiting recovery\), not mesh owner/, 'no owner');
});

void t.test('a genuine workload whose policy lacks the coordinator role is no Coordinator', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const manifest = parseManifest(h.manifest());
  const pod = await FakeCoordinator.start(t, UserApi, honest(h.platform, h.podDoc));
  await t.rejects(verifyCoordinator(await clientOf(t, pod.address), manifest),
    new RegExp(`runs policy ${sha256hex(h.podDoc)}, which the manifest does not give the "coordinator" role`), 'a pod of the mesh, bound correctly: refused for its role');
});

/** An in-process CliIo collecting output. */
function captureIo(signal?: AbortSignal): CliIo & { out: () => string } {
  let out = '';
  return { stdout: (s) => (out += s), stderr: (s) => (out += s), ...(signal ? { signal } : {}), out: () => out };
}

/** A workspace (`manifest init`) whose manifest trusts the harness's simulated platform and has a Coordinator policy. */
async function workspace(t: Test, h: Harness, name: string): Promise<string> {
  const ws = join(h.dir, name);
  const io = captureIo();
  t.equal(await manifestInitCommand(['--dir', ws, '--simulated-root', join(h.dir, 'platform', 'ark.pem'), '--snp-measurement', h.platform.config.measurement], io), 0, 'manifest init');
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
  manifest.policies[sha256hex(h.coordinatorDoc)] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
  mkdirSync(join(ws, 'policies'), { recursive: true });
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), h.coordinatorDoc);
  return ws;
}

void t.test('set, verify and recover send nothing to a Coordinator whose evidence does not verify', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const ws = await workspace(t, h, 'ws');
  // Evidence of a platform the manifest does not trust, otherwise perfect (Coordinator policy, bound correctly).
  const foreign = await initSimulatedPlatform(join(h.dir, 'foreign-platform'), { rsaBits: 2048, measurement: new Uint8Array(Buffer.from(h.platform.config.measurement, 'hex')) });
  for (const [name, run] of [['set', setCommand], ['verify', meshVerifyCommand], ['recover', recoverCommand]] as const) {
    const fake = await FakeCoordinator.start(t, UserApi, honest(foreign, h.coordinatorDoc));
    const io = captureIo();
    await t.rejects(run(['-c', fake.address, '--dir', ws, '--wait', '2s'], io), /the Coordinator at 127\.0\.0\.1:\d+ failed attestation against the local manifest/, `${name}: refused`);
    t.same(fake.calls, ['Attest'], `${name}: the fake received nothing but Attest (no history request, nonce, manifest or seed)`);
  }
  const genuine = await FakeCoordinator.start(t, UserApi, honest(h.platform, h.coordinatorDoc));
  const io = captureIo();
  t.equal(await meshVerifyCommand(['-c', genuine.address, '--dir', ws, '--wait', '2s'], io), 3, 'control: with evidence that verifies, verify goes on to compare histories');
  t.same(genuine.calls, ['Attest', 'GetManifests'], 'and asks for the history');
});

void t.test('the initializer sends no evidence to a Coordinator that fails its --coordinator-policy check', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  const policy = sha256hex(h.coordinatorDoc);
  const args = (address: string, owner: Uint8Array): string[] => [
    '--coordinator', address, '--tee', 'simulated', '--sim-dir', join(h.dir, 'platform'), '--host-data', sha256hex(h.podDoc), '--no-guard', '--tls-owner', 'none',
    '--max-backoff', '1s', '--tls-dir', join(h.dir, 'tls'), '--secret-path', join(h.dir, 'secret'), '--log-level', 'warn',
    '--coordinator-policy', policy, '--coordinator-measurement', h.platform.config.measurement, '--coordinator-root', join(h.dir, 'platform', 'ark.pem'), '--mesh-owner', formatMeshOwnerPin(owner)];
  /** Runs the initializer until its first failed attempt; returns its log. */
  const refusedOnce = async (address: string, owner: Uint8Array): Promise<string> => {
    const abort = new AbortController();
    let log = '';
    const io: CliIo = { stdout: () => undefined, stderr: (s) => {
      log += s;
      if (s.includes('attestation attempt failed')) abort.abort();
    }, signal: abort.signal };
    await initializerCommand(args(address, owner), io).catch(() => undefined);
    return log;
  };
  const cases: [string, AttestAnswer, RegExp][] = [
    ['a pod\'s policy, not the Coordinator\'s', honest(h.platform, h.podDoc, OWNER), /failed attestation against the local manifest/],
    ['the Coordinator\'s policy, but serving another owner', honest(h.platform, h.coordinatorDoc, OTHER_OWNER), /is genuine but serves mesh owner [0-9a-f]{64}, not the pinned/],
  ];
  for (const [name, answer, reason] of cases) {
    const fake = await FakeCoordinator.start(t, MeshApi, answer);
    const log = await refusedOnce(fake.address, OWNER);
    t.match(log, reason, `${name}: refused`);
    t.same(fake.calls, ['Attest'], `${name}: the fake received no nonce request and no pod evidence`);
  }
  // Control: the same fake serving the pinned owner passes the check, and the pod goes on to attest to it.
  const pinned = await FakeCoordinator.start(t, MeshApi, honest(h.platform, h.coordinatorDoc, OWNER));
  const log = await refusedOnce(pinned.address, OWNER);
  t.same(pinned.calls.slice(0, 3), ['Attest', 'GetNonce', 'NewMeshCert'], 'control: a Coordinator that verifies gets the pod\'s request');
  t.match(log, /NewMeshCert answered without certificate, CA bundle, root or workload secret/, 'whose empty answer is refused, nothing written');
});

void t.test('recover: after recovery the Coordinator must serve the workspace\'s mesh owner', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  await h.start();
  const ws = await workspace(t, h, 'ws');
  const address = `127.0.0.1:${h.coordinator!.userPort}`;
  const io = captureIo();
  t.equal(await setCommand(['-c', address, '--dir', ws, '--wait', '5s'], io), 0, 'the first set');
  const owner = readFileSync(join(ws, 'mesh-owner'), 'utf8').trim();
  // The workspace pins another owner (e.g. a copy of another mesh's workspace with this history's seed share).
  writeFileSync(join(ws, 'mesh-owner'), `${formatMeshOwnerPin(OTHER_OWNER)}\n`);
  await h.coordinator!.close();
  await h.start();
  const recover = (): Promise<number> => recoverCommand(['-c', `127.0.0.1:${h.coordinator!.userPort}`, '--dir', ws, '--wait', '5s'], captureIo());
  await t.rejects(recover(), new RegExp(`is genuine but serves mesh owner ${owner}, not the pinned ${formatMeshOwnerPin(OTHER_OWNER)}`), 'recover reports the owner it did not expect');
  writeFileSync(join(ws, 'mesh-owner'), `${owner}\n`);
  t.equal(await recover(), 0, 'control: with the pin of this history, recover finds it ready and succeeds');
});

void t.test('recover: refused while the Coordinator sees ready peer replicas (it recovers from them by itself), unless --force', async (t) => {
  // Two replicas share one store (in memory: closing one must not close it for the other).
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const h = await Harness.create({ openStore: () => Promise.resolve({ get: (k) => store.get(k), compareAndSwap: (k, e, v) => store.compareAndSwap(k, e, v), list: (p) => store.list(p), watch: (p, l) => store.watch(p, l), close: () => Promise.resolve() }) });
  t.teardown(() => h.close());
  await h.start();
  const ws = await workspace(t, h, 'ws');
  t.equal(await setCommand(['-c', `127.0.0.1:${h.coordinator!.userPort}`, '--dir', ws, '--wait', '5s'], captureIo()), 0, 'the first set');
  // A ready Coordinator of another mesh stands in for a peer that answers but cannot help (it refuses this replica).
  const other = await Harness.create();
  t.teardown(() => other.close());
  await other.start();
  const otherUser = await other.user();
  t.teardown(() => otherUser.close());
  await otherUser.call('SetManifest', await other.signedSet(otherUser, other.manifest(), [other.coordinatorDoc, other.podDoc]));
  const b = await h.startReplica(undefined, { peerRecovery: { peers: [`127.0.0.1:${other.coordinator!.meshPort}`], minBackoffMs: 100, maxBackoffMs: 200 } });
  const bUser = await PinnedClient.connect(`127.0.0.1:${b.userPort}`, UserApi);
  t.teardown(() => bUser.close());
  const deadline = Date.now() + 20_000;
  while ((await bUser.call('GetManifests', {})).readyPeers !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(b.core.state, 'recovery', 'B is in recovery and sees one ready peer');
  const recover = (...extra: string[]): Promise<number> => recoverCommand(['-c', `127.0.0.1:${b.userPort}`, '--dir', ws, '--wait', '5s', ...extra], captureIo());
  await t.rejects(recover(), /sees 1 ready peer replica\(s\) and recovers from them by itself \(waiting for a ready peer.*refused.*\)\. Nothing was sent\. Wait for it, or pass --force/, 'recover refuses and says why');
  t.equal(b.core.state, 'recovery', 'nothing was sent: B is still in recovery');
  t.equal(await recover('--force'), 0, 'recover --force recovers B by hand');
  t.equal(b.core.state, 'ready', 'B is ready');
});
