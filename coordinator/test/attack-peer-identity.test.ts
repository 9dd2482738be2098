/**
 * Attack on peer recovery (requesting side), simulated SEV-SNP: the replica's identity check reads the peer's ARK
 * with its own PEM regex (`coordinator/peer/self-identity.ts` `identityOfWire`: the LAST "BEGIN CERTIFICATE" block
 * anywhere in the chain bytes), while the evidence check reads the same bytes with `parseCertificates`
 * (`attestation/x509/pem.ts`): bytes without "-----BEGIN " in their first 4 096 bytes are DER, and Node's
 * X509Certificate ignores whatever follows the first certificate; a lone ASK is completed with the pinned (here: the
 * manifest's simulated) ARK that issued it.
 *
 * So a host whose store's manifest names its own simulated root (as in the "another root" test of
 * peer-recovery.test.ts) answers ShareSeed with evidence of that root whose chain is
 * `DER(its ASK) ‖ padding ‖ PEM(the requester's own ARK)`: the evidence verifies under the host's root, and the
 * identity check sees the requester's root. The root check (`sameRoot`), the only barrier for simulated evidence
 * whose measurement and policy the host sets at will, is bypassed, and the requester adopts the seed the host seals.
 *
 * The test asserts the secure behaviour (untrusted_peer, B stays in recovery); it FAILS while the bypass works.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { toCheckedEvidence } from '../../attestation/issuers/wire-evidence.js';
import { shareSeedAnswerReportData } from '../../lib/protocol/binding.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { parseMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import { evidenceMessage, type MeshApiMethods, type ShareSeedRequest, type ShareSeedResponse } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { PeerRecoveryFailure, type SeedPeer } from '../core/coordinator.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import { Harness, sha256hex } from './harness.js';

interface ManifestJson {
  referenceValues: { simulated: { name: string; ark: string; snp: Record<string, unknown> }[] };
}

function shared(inner: Store): Store {
  return { get: (k) => inner.get(k), compareAndSwap: (k, e, v) => inner.compareAndSwap(k, e, v), list: (p) => inner.list(p), watch: (p, l) => inner.watch(p, l), close: () => Promise.resolve() };
}

async function eventually(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void t.test('peer recovery: a peer of another simulated root can not pass the root check by appending the requester\'s ARK', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-attack-platform-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const other = await initSimulatedPlatform(dir, { rsaBits: 2048 });

  const store = new MemoryStore();
  t.teardown(() => store.close());
  const h = await Harness.create({ openStore: () => Promise.resolve(shared(store)), historySyncMs: 100 });
  t.teardown(() => h.close());
  const a = await h.start();
  const userA = await PinnedClient.connect(`127.0.0.1:${a.userPort}`, UserApi);
  const meshA: PinnedClient<MeshApiMethods> = await PinnedClient.connect(`127.0.0.1:${a.meshPort}`, MeshApi);
  t.teardown(() => {
    userA.close();
    meshA.close();
  });
  // The store's manifest (the host's, in this attack) names a second simulated root with the same reference values.
  const doc = JSON.parse(Buffer.from(h.manifest([])).toString()) as ManifestJson;
  doc.referenceValues.simulated.push({ ...doc.referenceValues.simulated[0]!, name: 'other', ark: other.ark.toString() });
  await userA.call('SetManifest', await h.signedSet(userA, new Uint8Array(Buffer.from(JSON.stringify(doc))), [h.coordinatorDoc, h.podDoc]));
  const b = await h.startReplica();
  await eventually(() => b.core.state === 'recovery', 'B is in recovery');

  // The host's simulated platform states B's own measurement and policy (it reads them from B's request).
  const issuer = new SimulatedSnpIssuer(other, { hostData: Buffer.from(sha256hex(h.coordinatorDoc), 'hex'), measurement: Buffer.from(h.platform.config.measurement, 'hex') });
  const requesterArkPem = new X509Certificate(h.platform.ark.raw).toString();
  const bend = async (answer: ShareSeedResponse, req: ShareSeedRequest): Promise<ShareSeedResponse> => {
    const owner = parseMeshOwnerPin(answer.meshOwner)!;
    const ev = await issuer.issue(shareSeedAnswerReportData(answer.publicKey, req.publicKey, answer.sealedSeed, owner, Buffer.from(answer.transitionHash, 'hex'), meshA.spki));
    if (ev.format !== 'snp' || !ev.certificates.ask) throw new Error('expected simulated SNP evidence with an ASK');
    const wire = toCheckedEvidence(ev);
    if (wire.format !== 'snp') throw new Error('expected SNP');
    // DER of the host root's ASK, padding past looksLikePem's 4 096-byte window, then the requester's ARK as PEM.
    const chain = Buffer.concat([Buffer.from(ev.certificates.ask), Buffer.alloc(4200, 0x20), Buffer.from(requesterArkPem)]);
    return { ...answer, evidence: evidenceMessage({ ...wire, chain: new Uint8Array(chain) }) };
  };
  const peer: SeedPeer = { address: meshA.address, tlsSpki: meshA.spki, nonce: () => meshA.nonce(), shareSeed: async (req) => bend(await meshA.call('ShareSeed', req), req) };
  const err = await b.core.recoverFromPeer(peer).then(() => undefined, (e: unknown) => e);
  t.equal(err instanceof PeerRecoveryFailure ? err.result : `no failure (B is ${b.core.state})`, 'untrusted_peer', 'evidence of another simulated root is not trusted, whatever PEM trails its chain');
  t.equal(b.core.state, 'recovery', 'B stays in recovery (it adopted the seed sealed by the other root\'s "replica")');
});
