/**
 * The TypeScript message interfaces (`messages.ts`) against the `.proto`: every RPC's request and response, with every
 * field set to a non-default value, survives an encode/decode round trip through the loaded codecs. A field the
 * interface names but the proto lacks (or spells otherwise) is dropped by the encoder and fails here.
 */
import t from 'tap';
import type { MethodDefinition } from '@grpc/grpc-js';
import { COORDINATOR_STATE, coordinatorStateName, evidenceMessage, type MeshApiMethods, type UserApiMethods } from './messages.js';
import { MeshApi, UserApi } from './services.js';

const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const snp = evidenceMessage({ format: 'snp', report: b(1184, 1), vek: b(70, 2), chain: b(80, 3) });
const tdx = evidenceMessage({ format: 'tdx', quote: b(60, 4) });

type Samples<M> = { [K in keyof M]: { [P in keyof M[K]]: M[K][P] } };

const user: Samples<UserApiMethods> = {
  GetNonce: { request: {}, response: { nonce: b(32, 5) } },
  Attest: { request: { nonce: b(32, 6) }, response: { evidence: snp, meshOwner: 'ab'.repeat(32) } },
  SetManifest: {
    request: { manifest: b(10, 7), policies: [b(3, 8), b(4, 9)], nonce: b(32, 10), ownerKey: 'cd'.repeat(40), signature: b(70, 11) },
    response: { transitionHash: 'e'.repeat(64), manifestHash: 'f'.repeat(64), rootCa: 'root', meshCaBundle: 'bundle', seedShares: [{ ownerKey: '01', encryptedSeed: b(256, 12) }], meshOwner: '02'.repeat(32) },
  },
  GetManifests: {
    request: {},
    response: { manifests: [b(5, 13), b(6, 14)], policies: { ['a'.repeat(64)]: b(7, 15) }, transitions: ['t1', 't2'], rootCa: 'r', meshCaBundle: 'm', state: COORDINATOR_STATE.recovery, meshOwner: 'o', recoveryStatus: 'waiting', readyPeers: 2 },
  },
  Recover: { request: { seed: b(64, 16), salt: b(32, 17), nonce: b(32, 18), ownerKey: '03', signature: b(256, 19) }, response: {} },
  IssueOperatorCert: {
    request: { publicKey: b(91, 32), nonce: b(32, 33), ownerKey: '07', signature: b(72, 34) },
    response: { certChain: 'chain', meshCaBundle: 'bundle', rootCa: 'root', operatorId: 'ccmesh-operator://ccmesh.local/ab', meshOwner: '08'.repeat(32) },
  },
};

const mesh: Samples<MeshApiMethods> = {
  GetNonce: user.GetNonce,
  Attest: { request: { nonce: b(32, 20) }, response: { evidence: tdx, meshOwner: '' } },
  NewMeshCert: {
    request: { evidence: tdx, publicKey: b(91, 21), nonce: b(32, 22) },
    response: { certChain: 'chain', meshCaBundle: 'bundle', rootCa: 'root', workloadSecret: b(64, 23), workloadSecretId: 'web', configDigests: { '/etc/app': { files: { 'a.conf': 'ab'.repeat(32) } } }, meshOwner: '04'.repeat(32) },
  },
  RenewMeshCert: {
    request: { certChain: 'leaf', publicKey: b(91, 24), nonce: b(32, 25), signature: b(72, 26), evidence: snp, newKeySignature: b(71, 27) },
    response: { certChain: 'chain', meshCaBundle: 'bundle', rootCa: 'root' },
  },
  GetTrustBundle: { request: {}, response: { rootCa: 'r', meshCaBundle: 'm', manifestHash: 'h' } },
  ShareSeed: {
    request: { evidence: snp, publicKey: b(91, 28), nonce: b(32, 29) },
    response: { evidence: tdx, publicKey: b(91, 30), sealedSeed: b(124, 31), meshOwner: '05'.repeat(32), transitionHash: '06'.repeat(32) },
  },
};

/** Buffers as plain byte arrays, so a decoded Buffer equals the Uint8Array that was sent. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'kind').map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Keeps only the fields `sent` names (the decoder adds proto3 defaults for the rest). */
function project(decoded: unknown, sent: unknown): unknown {
  if (Array.isArray(sent) && Array.isArray(decoded)) return decoded.map((d, i) => project(d, sent[i]));
  if (sent && typeof sent === 'object' && !(sent instanceof Uint8Array) && decoded && typeof decoded === 'object') {
    return Object.fromEntries(Object.keys(sent).map((k) => [k, project((decoded as Record<string, unknown>)[k], (sent as Record<string, unknown>)[k])]));
  }
  return decoded;
}

for (const [api, service, samples] of [['UserAPI', UserApi, user], ['MeshAPI', MeshApi, mesh]] as const) {
  void t.test(`${api}: every request and response round-trips through the proto's codecs`, (t) => {
    t.same(Object.keys(samples).sort(), Object.keys(service.definition).sort(), 'a sample for every RPC, and the interfaces name no other');
    for (const [name, sample] of Object.entries(samples) as [string, { request: unknown; response: unknown }][]) {
      const m = service.definition[name] as MethodDefinition<unknown, unknown>;
      const req = m.requestDeserialize(m.requestSerialize(sample.request));
      t.same(plain(project(req, sample.request)), plain(sample.request), `${name} request`);
      const res = m.responseDeserialize(m.responseSerialize(sample.response));
      t.same(plain(project(res, sample.response)), plain(sample.response), `${name} response`);
    }
    t.end();
  });
}

void t.test('state names', (t) => {
  t.equal(coordinatorStateName(COORDINATOR_STATE.ready), 'ready');
  t.equal(coordinatorStateName('COORDINATOR_STATE_UNSPECIFIED'), 'unknown', 'a value this version does not name');
  t.end();
});
