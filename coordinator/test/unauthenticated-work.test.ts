/**
 * Unauthenticated callers get bounded work (docs/design.md §3), over the real gRPC servers in-process:
 *   - a manifest update is authorised over its raw bytes before anything parses it;
 *   - a flood of GetNonce from one client leaves another client's nonce valid;
 *   - a burst of Attest produces at most the per-client (then the overall) number of hardware reports, and other
 *     clients still get valid evidence.
 * Every assertion is a count or a status, never a duration.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Evidence, EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { FixedClock } from '../../lib/clock.js';
import { CcmeshError } from '../../lib/errors.js';
import { coordinatorReportData, setManifestSignedData, signBinding } from '../../lib/protocol/binding.js';
import { NO_MESH_OWNER } from '../../lib/protocol/mesh-owner.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { EvidenceMessage, SetManifestRequest, UserApiMethods } from '../../lib/protocol/messages.js';
import { decodeMessage, readEvidence } from '../../lib/protocol/limits.js';
import { UserApi } from '../../lib/protocol/services.js';
import { EvidenceChecker } from '../../contract/attestation/evidence-check.js';
import { DEFAULT_ATTEST_LIMITS } from '../core/attest-limiter.js';
import type { ManifestParser } from '../core/coordinator.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import { Harness, sha256hex } from './harness.js';

/** The gRPC status name and details of a refused call (fails the test if the call succeeded). */
async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof CcmeshError)) throw new Error(`expected a refusal, got ${err === undefined ? 'success' : String(err)}`);
  return err.message;
}

/** Counts issuances on the Coordinator's own issuer. */
class CountingIssuer implements EvidenceIssuer {
  readonly name: string;
  readonly #inner: EvidenceIssuer;
  issued = 0;

  constructor(inner: EvidenceIssuer) {
    this.#inner = inner;
    this.name = `counting(${inner.name})`;
  }

  issue(reportData: Uint8Array, signal?: AbortSignal): Promise<Evidence> {
    this.issued++;
    return this.#inner.issue(reportData, signal);
  }
}

/**
 * A TCP relay on 127.0.0.1 whose connections to `port` leave from `sourceAddress` (another loopback address), so the
 * Coordinator sees a second client address. TLS passes through untouched.
 */
async function relayFrom(t: { teardown(fn: () => unknown): void }, sourceAddress: string, port: number): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = netConnect({ host: '127.0.0.1', port, localAddress: sourceAddress });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {
        down.destroy();
        up.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

async function userVia(t: { teardown(fn: () => unknown): void }, h: Harness, sourceAddress: string): Promise<PinnedClient<UserApiMethods>> {
  const client = await PinnedClient.connect(`127.0.0.1:${await relayFrom(t, sourceAddress, h.coordinator!.userPort)}`, UserApi);
  t.teardown(() => client.close());
  return client;
}

async function loadShed(h: Harness, limit: string): Promise<number> {
  const metric = h.coordinator!.registry.getSingleMetric('ccmesh_coordinator_load_shed_total');
  const values = metric ? (await metric.get()).values : [];
  return values.find((v) => v.labels.limit === limit)?.value ?? 0;
}

void t.test('SetManifest: an update is authorised over the raw bytes before anything parses it', async (t) => {
  let parses = 0;
  const countingParser: ManifestParser = (source) => {
    parses++;
    return parseManifest(source);
  };
  const { h, user } = await Harness.started(t, { parseManifest: countingParser });
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));
  t.equal(parses, 1, 'the first set parses its manifest (the spy sees the Coordinator\'s parser)');

  // 1 MiB of "[": not JSON a parser would accept (nesting far beyond the depth limit) and the largest body allowed.
  const junk = new Uint8Array(1024 * 1024).fill(0x5b);
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const signedOverValid = await h.signedSet(user, h.manifest(), policies);
  const neverIssued = new Uint8Array(32).fill(7);
  const cases: [string, SetManifestRequest, RegExp][] = [
    ['unsigned', { manifest: junk, policies }, /^SetManifest: UNAUTHENTICATED: .*needs nonce, ownerKey and signature/],
    ['owner signature over other bytes', { ...signedOverValid, manifest: junk }, /^SetManifest: PERMISSION_DENIED: the workload owner signature does not verify/],
    ['garbage signature', { ...(await h.signedSet(user, junk, policies)), signature: new Uint8Array(randomBytes(96)) }, /^SetManifest: PERMISSION_DENIED: the workload owner signature does not verify/],
    ['a key that is no workload owner', await h.signedSet(user, junk, policies, stranger.privateKey), /^SetManifest: PERMISSION_DENIED: ownerKey is not one of the current manifest/],
    ['a nonce the Coordinator never issued', {
      manifest: junk, policies, nonce: neverIssued, ownerKey: h.spkiHex(h.owner.publicKey),
      signature: signBinding(setManifestSignedData(junk, policies, neverIssued, user.spki), h.owner.privateKey),
    }, /^SetManifest: PERMISSION_DENIED: unknown or already used nonce/],
  ];
  for (const [what, request, expected] of cases) {
    t.match(await refusal(user.call('SetManifest', request)), expected, `${what}: the authorisation error, not a parse error`);
  }
  t.equal(parses, 1, 'no refused update reached the manifest parser');

  // Signed by the owner: now, and only now, the body is parsed.
  t.match(await refusal(user.call('SetManifest', await h.signedSet(user, junk, policies))), /^SetManifest: INVALID_ARGUMENT: invalid manifest/, 'a malformed manifest signed by the owner gets the parse error');
  t.equal(parses, 2, 'the signed update was parsed');

  // Cross-document checks after the signature, both ways.
  const apiDoc = new Uint8Array(Buffer.from('pod api policy v1'));
  t.match(await refusal(user.call('SetManifest', await h.signedSet(user, h.manifest(), [...policies, apiDoc]))), /INVALID_ARGUMENT: policy document with SHA-256 [0-9a-f]{64} is not named/, 'a document the manifest does not name');
  t.match(await refusal(user.call('SetManifest', await h.signedSet(user, h.manifest([sha256hex(apiDoc)]), policies))), /INVALID_ARGUMENT: the manifest names policy [0-9a-f]{64} but no policy document/, 'a policy without its document');
  const updated = await user.call('SetManifest', await h.signedSet(user, h.manifest([sha256hex(apiDoc)]), [...policies, apiDoc, apiDoc]));
  t.equal(updated.seedShares.length, 0, 'a correctly signed update is accepted (a repeated document is harmless)');
  t.equal(parses, 5);

  // The public reads parse stored manifests once per history head, not once per call.
  for (let i = 0; i < 3; i++) await user.call('GetManifests', {});
  t.equal(parses, 7, 'three GetManifests over a history of two manifests: two parses');

  // In recovery, Recover is unauthenticated until its signature verifies: the stored manifest is parsed once.
  user.close();
  await h.coordinator!.close();
  await h.start();
  const user2 = await h.user();
  t.teardown(() => user2.close());
  const strangerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  for (let i = 0; i < 3; i++) {
    const request = await h.recoverRequest(user2, new Uint8Array(64), new Uint8Array(32), strangerRsa.privateKey);
    t.match(await refusal(user2.call('Recover', request)), /PERMISSION_DENIED: ownerKey is not a seed-share owner key of the mesh's first manifest/);
  }
  t.equal(parses, 7, 'three refused Recover calls: no parse (only the first manifest\'s key list is read)');
});

void t.test('nonces: a GetNonce flood from one client leaves another client\'s nonces valid', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));

  // The victim takes one nonce on each API: a pod's evidence and an owner's signed update.
  const pod = await h.podRequest(mesh);
  const update = await h.signedSet(user, h.manifest(), policies);

  // Another client (its own connections) asks both APIs for more nonces than the old shared store held (10 000).
  const perApi = 5500;
  const floodUser = await h.user();
  const floodMesh = await h.mesh();
  t.teardown(() => {
    floodUser.close();
    floodMesh.close();
  });
  const seen = new Set<string>();
  for (const client of [floodUser, floodMesh]) {
    for (let done = 0; done < perApi; done += 500) {
      const batch = await Promise.all(Array.from({ length: 500 }, () => client.nonce()));
      for (const nonce of batch) seen.add(Buffer.from(nonce).toString('hex'));
    }
  }
  t.equal(seen.size, 2 * perApi, `the flood got ${2 * perApi} distinct nonces`);

  const cert = await mesh.call('NewMeshCert', pod.request);
  t.ok(cert.certChain.includes('BEGIN CERTIFICATE'), 'the pod\'s nonce survived the flood: certificate issued');
  const set = await user.call('SetManifest', update);
  t.match(set.transitionHash, /^[0-9a-f]{64}$/, 'the owner\'s nonce survived the flood: update accepted');
  t.match(await refusal(mesh.call('NewMeshCert', pod.request)), /PERMISSION_DENIED: unknown or already used nonce/, 'and each nonce is still single-use');
  t.match(await refusal(user.call('SetManifest', update)), /PERMISSION_DENIED: unknown or already used nonce/);
});

void t.test('Attest: a burst gets at most the per-client, then the overall number of hardware reports; others still get valid evidence', async (t) => {
  // The clock stands still, so no bucket refills during the test: the bounds are exact counts.
  const clock = new FixedClock(Date.now());
  let counting: CountingIssuer | undefined;
  const { h, user } = await Harness.started(t, {
    clock,
    wrapIssuer: (inner) => (counting = new CountingIssuer(inner)),
  });
  const issuer = counting!;
  const checker = new EvidenceChecker();
  const manifest = parseManifest(h.manifest());
  const attest = async (client: PinnedClient<UserApiMethods>): Promise<{ ok: boolean; details: string }> => {
    const nonce = new Uint8Array(randomBytes(32));
    try {
      const res = await client.call('Attest', { nonce });
      // The answer's evidence checked against the Evidence message's field limits, then in its domain form.
      const evidence = readEvidence('Attest response.evidence', decodeMessage('Attest response.evidence', 'Evidence', res.evidence) as EvidenceMessage);
      // The Coordinator is fresh here: it binds no mesh owner.
      const verdict = checker.check(manifest, evidence, coordinatorReportData(client.spki, nonce, NO_MESH_OWNER), new Date());
      return { ok: verdict.ok && verdict.peer.policy.role === 'coordinator', details: verdict.ok ? 'valid' : verdict.reasons.join('; ') };
    } catch (err) {
      return { ok: false, details: err instanceof Error ? err.message : String(err) };
    }
  };
  const burst = (client: PinnedClient<UserApiMethods>, n: number) => Promise.all(Array.from({ length: n }, () => attest(client)));
  const { perClient, overall } = DEFAULT_ATTEST_LIMITS;

  // One client (127.0.0.1) bursts on the user API.
  const a = await burst(user, 3 * perClient.burst);
  const aOk = a.filter((r) => r.ok).length;
  t.equal(issuer.issued, perClient.burst, `a burst of ${a.length} from one client: ${perClient.burst} hardware reports`);
  t.equal(aOk, perClient.burst, 'each of them valid evidence');
  t.ok(a.filter((r) => !r.ok).every((r) => /^Attest: RESOURCE_EXHAUSTED: too many Attest requests from this client/.test(r.details)), 'the rest: RESOURCE_EXHAUSTED naming the limit');
  t.equal(await loadShed(h, 'attest_per_client'), a.length - aOk, 'every refusal counted');

  // Another client address is served meanwhile, with valid evidence bound to its nonce.
  const b = await userVia(t, h, '127.0.0.2');
  t.same(await attest(b), { ok: true, details: 'valid' }, 'a client at another address gets valid evidence during the burst');

  // Many addresses together are held to the overall bucket.
  const others = await Promise.all(['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'].map((ip) => userVia(t, h, ip)));
  await Promise.all(others.map((c) => burst(c, perClient.burst)));
  t.equal(issuer.issued, overall.burst, `clients at ${others.length + 2} addresses: ${overall.burst} hardware reports in all`);
  t.ok(await loadShed(h, 'attest_overall') > 0, 'refusals by the overall limit counted');
  t.match((await attest(b)).details, /^Attest: RESOURCE_EXHAUSTED: the Coordinator is producing evidence for too many clients/, 'the overall refusal names its limit');

  // Buckets refill with the (test) clock, not with retries.
  clock.advance(1000);
  t.same(await attest(b), { ok: true, details: 'valid' }, 'after a second the client gets evidence again');
  t.equal(issuer.issued, overall.burst + 1);
});
