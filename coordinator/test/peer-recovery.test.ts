/**
 * Peer recovery in process (issue 17): two Coordinators share one store (in memory); A is ready, B in recovery.
 *   - B recovers from A through its peer recovery loop (--peers) by itself, and serves A's root CA.
 *   - ShareSeed (serving side): a normal workload (policy without role "coordinator") is refused; so is evidence that
 *     binds another ECDH key, and a replica in recovery shares nothing.
 *   - recoverFromPeer (requesting side), against A with its answer bent on the way: a peer of another measurement or
 *     another coordinator policy (both accepted by the manifest) is not trusted; an answer relayed under another TLS
 *     key, a tampered sealed seed (with and without evidence re-bound to it), a seed that does not reproduce the
 *     signed latest, and a mesh owner other than the history's are each refused, and B stays in recovery.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { toWireEvidence } from '../../attestation/issuers/wire-evidence.js';
import { readP256Spki, sealPeerSeed } from '../../contract/peer-seed.js';
import { shareSeedAnswerReportData, shareSeedReportData } from '../../lib/protocol/binding.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { formatMeshOwnerPin, parseMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import type { MeshApiMethods, ShareSeedRequest, ShareSeedResponse, UserApiMethods } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { ephemeralKey } from '../../contract/peer-seed.js';
import { PeerRecoveryFailure, type SeedPeer } from '../core/coordinator.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import type { RunningCoordinator } from '../unit.js';
import { Harness, refused, sha256hex } from './harness.js';
import { infinitySpki } from '../../test/support/pki/hostile-keys.js';

/** The parts of a manifest document the tests edit. */
interface ManifestJson {
  referenceValues: { simulated: { name: string; ark: string; snp: Record<string, unknown> }[] };
}

/** A ShareSeed request of a simulated replica with the policy document `doc` (binding another ECDH key when `bindOther`). */
async function shareSeedRequest(h: Harness, mesh: PinnedClient<MeshApiMethods>, doc: Uint8Array, bindOther = false): Promise<ShareSeedRequest> {
  const key = ephemeralKey();
  const nonce = await mesh.nonce();
  const bound = bindOther ? ephemeralKey().spki : key.spki;
  const issuer = new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(doc), 'hex') });
  const ev = await issuer.issue(shareSeedReportData(bound, nonce, mesh.spki));
  return { evidence: toWireEvidence(ev), publicKey: key.spki, nonce };
}

const OTHER_MEASUREMENT = 'ab'.repeat(48);
const otherCoordinatorDoc = new Uint8Array(Buffer.from('coordinator policy v2'));

async function eventually(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One store shared by every replica in the test (closing a replica must not close it for the others). */
function shared(inner: Store): Store {
  return { get: (k) => inner.get(k), compareAndSwap: (k, e, v) => inner.compareAndSwap(k, e, v), list: (p) => inner.list(p), watch: (p, l) => inner.watch(p, l), close: () => Promise.resolve() };
}

/** A, ready with the first manifest (which also accepts OTHER_MEASUREMENT and a second coordinator policy), and B in recovery. */
async function setup(tt: { teardown(fn: () => unknown): void }, edit: (doc: ManifestJson) => void = () => undefined) {
  const store = new MemoryStore();
  tt.teardown(() => store.close());
  const h = await Harness.create({ openStore: () => Promise.resolve(shared(store)), historySyncMs: 100 });
  tt.teardown(() => h.close());
  const a = await h.start();
  const userA = await PinnedClient.connect(`127.0.0.1:${a.userPort}`, UserApi);
  const meshA = await PinnedClient.connect(`127.0.0.1:${a.meshPort}`, MeshApi);
  tt.teardown(() => {
    userA.close();
    meshA.close();
  });
  const doc = JSON.parse(Buffer.from(h.manifest([], undefined, { extraMeasurements: [OTHER_MEASUREMENT], extraCoordinatorPolicies: [sha256hex(otherCoordinatorDoc)] })).toString()) as ManifestJson;
  edit(doc);
  const manifest = new Uint8Array(Buffer.from(JSON.stringify(doc)));
  const first = await userA.call('SetManifest', await h.signedSet(userA, manifest, [h.coordinatorDoc, h.podDoc, otherCoordinatorDoc]));
  const b = await h.startReplica();
  await eventually(() => b.core.state === 'recovery', 'B is in recovery');
  return { h, a, b, userA, meshA, first, store };
}

/** A as B's peer, its ShareSeed answer passed through `bend` (which sees B's request). */
function peerOf(meshA: PinnedClient<MeshApiMethods>, bend: (answer: ShareSeedResponse, req: ShareSeedRequest) => ShareSeedResponse | Promise<ShareSeedResponse> = (x) => x, tlsSpki = meshA.spki): SeedPeer {
  return { address: meshA.address, tlsSpki, nonce: () => meshA.nonce(), shareSeed: async (req) => bend(await meshA.call('ShareSeed', req), req) };
}

/** Evidence of `issuer` over an answer: what a peer with that issuer's identity would send for these bytes. */
async function rebound(h: Harness, meshA: PinnedClient<MeshApiMethods>, issuer: SimulatedSnpIssuer, answer: ShareSeedResponse, req: ShareSeedRequest): Promise<ShareSeedResponse> {
  const owner = parseMeshOwnerPin(answer.meshOwner)!;
  const ev = await issuer.issue(shareSeedAnswerReportData(answer.publicKey, req.publicKey, answer.sealedSeed, owner, Buffer.from(answer.transitionHash, 'hex'), meshA.spki));
  void h;
  return { ...answer, evidence: toWireEvidence(ev) };
}

async function failure(call: Promise<unknown>): Promise<PeerRecoveryFailure | undefined> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  return err instanceof PeerRecoveryFailure ? err : undefined;
}

void t.test('peer recovery: B, started with --peers, recovers from ready A by itself and serves the same root CA', async (t) => {
  const { h, a, first } = await setup(t);
  const c: RunningCoordinator = await h.startReplica(undefined, { peerRecovery: { peers: [`127.0.0.1:${a.meshPort}`], minBackoffMs: 100, maxBackoffMs: 200 } });
  await eventually(() => c.core.state === 'ready', 'C recovered from A');
  const meshC = await PinnedClient.connect(`127.0.0.1:${c.meshPort}`, MeshApi);
  t.teardown(() => meshC.close());
  t.equal((await meshC.call('GetTrustBundle', {})).rootCa, first.rootCa, 'C serves the root CA of the first set');
  const { res } = await h.newPodCert(meshC);
  t.ok(res.workloadSecret && res.workloadSecret.length === 64, 'and issues to pods');
  const recovered = (await c.registry.getSingleMetric('ccmesh_coordinator_peer_recoveries_total')?.get())?.values.find((v) => v.labels.result === 'recovered')?.value;
  t.equal(recovered, 1, 'ccmesh_coordinator_peer_recoveries_total{result="recovered"} counts it');
  const status = await (await PinnedClient.connect(`127.0.0.1:${c.userPort}`, UserApi)).call('GetManifests', {});
  t.equal(status.state, 'COORDINATOR_STATE_READY', 'GetManifests reports ready');
});

void t.test('peer recovery: ShareSeed refuses a normal workload, evidence for another key, and serves nothing while in recovery', async (t) => {
  const { h, b, meshA } = await setup(t);
  const ask = async (mesh: PinnedClient<MeshApiMethods>, doc: Uint8Array, bindOther = false) => mesh.call('ShareSeed', await shareSeedRequest(h, mesh, doc, bindOther));
  await refused(t, ask(meshA, h.podDoc), 'PERMISSION_DENIED', /policy [0-9a-f]{64} does not have role "coordinator": only a Coordinator replica receives the seed/, 'a genuine pod of the manifest asking for the seed');
  await refused(t, ask(meshA, h.coordinatorDoc, true), 'PERMISSION_DENIED', /the requesting replica's evidence is refused: REPORT_DATA does not bind this request/, 'coordinator evidence bound to another ECDH key');
  // A point-at-infinity ECDH key, before any evidence is looked at: refused as malformed, the process stays up (on
  // Node 20, OpenSSL aborts the process when such a key's details are read).
  // (OpenSSL ignores bytes after the key, so padding takes it past the wire's 32-byte minimum.)
  const infinity = { ...(await shareSeedRequest(h, meshA, h.coordinatorDoc)), publicKey: new Uint8Array(Buffer.concat([infinitySpki('P-256'), Buffer.alloc(16)])) };
  await refused(t, meshA.call('ShareSeed', infinity), 'INVALID_ARGUMENT', /publicKey must be an ECDH P-256 SubjectPublicKeyInfo/, 'a point-at-infinity ECDH key, padded');
  t.equal((await meshA.call('GetTrustBundle', {})).rootCa.length > 0, true, 'and the Coordinator still answers');
  const once = await shareSeedRequest(h, meshA, h.coordinatorDoc);
  t.equal((await meshA.call('ShareSeed', once)).sealedSeed.length, 124, 'a coordinator\'s own request is answered (the control)');
  await refused(t, meshA.call('ShareSeed', once), 'PERMISSION_DENIED', /unknown or already used nonce/, 'the same request again (a replay)');
  const meshB = await PinnedClient.connect(`127.0.0.1:${b.meshPort}`, MeshApi);
  t.teardown(() => meshB.close());
  await refused(t, ask(meshB, h.coordinatorDoc), 'UNAVAILABLE', /the Coordinator is in recovery mode/, 'a replica in recovery has no seed to share');
});

void t.test('peer recovery: the requester trusts only a replica like itself and a sealed seed that proves the signed latest', async (t) => {
  const { h, b, meshA, first } = await setup(t);
  const coordinatorHostData = Buffer.from(sha256hex(h.coordinatorDoc), 'hex');
  const stillRecovery = (what: string): void => {
    t.equal(b.core.state, 'recovery', `${what}: B stays in recovery`);
  };

  const otherMeasurement = new SimulatedSnpIssuer(h.platform, { hostData: coordinatorHostData, measurement: Buffer.from(OTHER_MEASUREMENT, 'hex') });
  let f = await failure(b.core.recoverFromPeer(peerOf(meshA, (ans, req) => rebound(h, meshA, otherMeasurement, ans, req))));
  t.equal(f?.result, 'untrusted_peer', 'a peer with another launch measurement (one the manifest accepts) is not trusted');
  t.match(f?.message ?? '', /launch measurement [0-9a-f]+ is not this replica's/, 'naming the measurement');
  stillRecovery('other measurement');

  const otherPolicy = new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(otherCoordinatorDoc), 'hex') });
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, (ans, req) => rebound(h, meshA, otherPolicy, ans, req))));
  t.equal(f?.result, 'untrusted_peer', 'a peer under another coordinator policy of the manifest is not trusted');
  t.match(f?.message ?? '', /runs policy [0-9a-f]{64}, not this replica's/, 'naming the policy');
  stillRecovery('other policy');

  // A relay between B and A shows B its own TLS key: B's evidence binds that key, so A refuses to answer.
  await refused(t, b.core.recoverFromPeer(peerOf(meshA, (x) => x, ephemeralKey().spki)), 'PERMISSION_DENIED', /the requesting replica's evidence is refused: REPORT_DATA does not bind this request/, 'a request through a relay (another TLS key than A\'s)');
  stillRecovery('relay');

  // An answer A gave to another request (the host recorded it) is bound to that request's key, not B's.
  const recorded = await meshA.call('ShareSeed', await shareSeedRequest(h, meshA, h.coordinatorDoc));
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, () => recorded)));
  t.equal(f?.result, 'untrusted_peer', 'an answer recorded from another request is not trusted');
  t.match(f?.message ?? '', /REPORT_DATA does not bind/, 'its evidence binds the other request');
  stillRecovery('replayed answer');

  const flip = (ans: ShareSeedResponse): ShareSeedResponse => {
    const sealed = new Uint8Array(ans.sealedSeed);
    sealed[40] = sealed[40]! ^ 1;
    return { ...ans, sealedSeed: sealed };
  };
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, flip)));
  t.equal(f?.result, 'untrusted_peer', 'a tampered sealed seed no longer matches the evidence');
  stillRecovery('tampered');
  const own = new SimulatedSnpIssuer(h.platform, { hostData: coordinatorHostData });
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, (ans, req) => rebound(h, meshA, own, flip(ans), req))));
  t.equal(f?.result, 'bad_answer', 'a tampered sealed seed with evidence re-bound to it does not open');
  t.match(f?.message ?? '', /does not authenticate/, 'AES-GCM refuses it');
  stillRecovery('tampered and re-bound');

  const wrongSeed = (ans: ShareSeedResponse, req: ShareSeedRequest): Promise<ShareSeedResponse> => {
    const { servingSpki, sealed } = sealPeerSeed(randomBytes(64), randomBytes(32), readP256Spki(req.publicKey)!, req.publicKey);
    return rebound(h, meshA, own, { ...ans, publicKey: servingSpki, sealedSeed: sealed }, req);
  };
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, wrongSeed)));
  t.equal(f?.result, 'seed_mismatch', 'a seed that does not reproduce the signed latest is refused');
  t.match(f?.message ?? '', /this seed does not match the Coordinator's history/, 'naming the history');
  stillRecovery('wrong seed');

  const otherOwner = (ans: ShareSeedResponse, req: ShareSeedRequest): Promise<ShareSeedResponse> => rebound(h, meshA, own, { ...ans, meshOwner: formatMeshOwnerPin(randomBytes(32)) }, req);
  f = await failure(b.core.recoverFromPeer(peerOf(meshA, otherOwner)));
  t.equal(f?.result, 'seed_mismatch', 'the right seed under another mesh owner than the history\'s is refused');
  t.match(f?.message ?? '', /mesh owner [0-9a-f]{64} is not the one the peer bound/, 'naming the owner');
  stillRecovery('other owner');

  await b.core.recoverFromPeer(peerOf(meshA));
  t.equal(b.core.state, 'ready', 'the unbent answer recovers B (the control)');
  const meshB = await PinnedClient.connect(`127.0.0.1:${b.meshPort}`, MeshApi);
  t.teardown(() => meshB.close());
  t.equal((await meshB.call('GetTrustBundle', {})).rootCa, first.rootCa, 'B serves the same root CA');
});

void t.test('peer recovery: GetManifests reports the recovery state while no peer is ready', async (t) => {
  const { h } = await setup(t);
  const c = await h.startReplica(undefined, { peerRecovery: { peers: ['127.0.0.1:1'], minBackoffMs: 100, maxBackoffMs: 200 } });
  const user: PinnedClient<UserApiMethods> = await PinnedClient.connect(`127.0.0.1:${c.userPort}`, UserApi);
  t.teardown(() => user.close());
  await eventually(async () => (await user.call('GetManifests', {})).recoveryStatus !== '', 'C reports its peer recovery');
  const status = await user.call('GetManifests', {});
  t.equal(status.state, 'COORDINATOR_STATE_RECOVERY', 'C is in recovery');
  t.equal(status.readyPeers, 0, 'with no ready peer');
  t.match(status.recoveryStatus, /^waiting for a ready peer to recover from \(round \d+: 0 of 1 peer addresses ready.*127\.0\.0\.1:1: unreachable/, 'saying what it waits for and why');
});

void t.test('peer recovery: a peer whose simulated evidence chains to another root than the requester\'s is not trusted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-other-platform-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const other = await initSimulatedPlatform(dir, { rsaBits: 2048 });
  // The store's manifest (the host's, in this attack) names a second simulated root with the same reference values.
  const { h, b, meshA } = await setup(t, (doc) => doc.referenceValues.simulated.push({ ...doc.referenceValues.simulated[0]!, name: 'other', ark: other.ark.toString() }));
  const issuer = new SimulatedSnpIssuer(other, { hostData: Buffer.from(sha256hex(h.coordinatorDoc), 'hex'), measurement: Buffer.from(h.platform.config.measurement, 'hex') });
  const f = await failure(b.core.recoverFromPeer(peerOf(meshA, (ans, req) => rebound(h, meshA, issuer, ans, req))));
  t.equal(f?.result, 'untrusted_peer', 'same measurement and policy, another simulated root: not trusted');
  t.match(f?.message ?? '', /chains to root [0-9a-f]{64}, not this replica's/, 'naming the root');
  t.equal(b.core.state, 'recovery', 'B stays in recovery');
});

void t.test('peer recovery: latest rolled back under the running peer — the requester refuses the older history', async (t) => {
  const { h, b, userA, meshA, store } = await setup(t);
  const before = (await store.get('latest'))!;
  const extra = new Uint8Array(Buffer.from('pod api policy'));
  const update = await userA.call('SetManifest', await h.signedSet(userA, h.manifest([sha256hex(extra)]), [h.coordinatorDoc, h.podDoc, extra]));
  const newest = (await store.get('latest'))!;
  // The host puts the older, validly signed pointer back; A refuses to move back and keeps serving the update.
  t.equal((await store.compareAndSwap('latest', newest.revision, before.value)).ok, true, 'the host rolled latest back');
  t.equal((await meshA.call('GetTrustBundle', {})).manifestHash, update.manifestHash, 'A still serves the update');
  const f = await failure(b.core.recoverFromPeer(peerOf(meshA)));
  t.equal(f?.result, 'seed_mismatch', 'B refuses to recover into the older history');
  t.match(f?.message ?? '', new RegExp(`does not contain transition ${update.transitionHash} that the peer serves`), 'naming the head A serves');
  t.equal(b.core.state, 'recovery', 'B stays in recovery');
  const rolledBack = (await store.get('latest'))!;
  t.equal((await store.compareAndSwap('latest', rolledBack.revision, newest.value)).ok, true, 'the newest pointer is back');
  await b.core.recoverFromPeer(peerOf(meshA));
  t.equal(b.core.state, 'ready', 'B recovers (the control)');
  const meshB = await PinnedClient.connect(`127.0.0.1:${b.meshPort}`, MeshApi);
  t.teardown(() => meshB.close());
  t.equal((await meshB.call('GetTrustBundle', {})).manifestHash, update.manifestHash, 'and serves the update');
});
