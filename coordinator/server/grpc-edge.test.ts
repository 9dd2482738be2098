/**
 * The gRPC edge of a real Coordinator (`handlers.ts`, `grpc-servers.ts`) and the message bound of both ends
 * (`lib/protocol/services.ts`), with requests written as raw protobuf bytes: an undecodable request or a field out
 * of its bound gets INVALID_ARGUMENT naming the message or field, an unexpected exception
 * in a handler becomes INTERNAL with a generic message (nothing of the exception reaches the client) and the server
 * keeps serving; a request over 4 MiB is refused by the transport before any handler runs, and a client refuses an
 * answer over 4 MiB.
 */
import t from 'tap';
import { type MethodDefinition, Server, ServerCredentials, type ServiceDefinition, status } from '@grpc/grpc-js';
import { Harness } from '../test/harness.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import type { ManifestParser } from '../core/coordinator.js';
import { createServerTlsIdentity } from '../tls/ephemeral-tls-identity.js';
import { systemClock } from '../../lib/clock.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MAX_HISTORY_ANSWER_BYTES, MAX_MESH_ANSWER_BYTES, MAX_MESH_REQUEST_BYTES, MAX_MESSAGE_BYTES } from '../../lib/protocol/wire.js';
import { type ApiService, MeshApi, UserApi } from '../../lib/protocol/services.js';

/** Raw-request methods: the request is the exact bytes a peer puts on the wire. */
type Raw<M> = { [K in keyof M]: { request: Buffer; response: M[K] extends { response: infer R } ? R : never } };

/** `service` with requests sent as raw bytes (anything a peer can put on the wire), answers decoded as usual. */
function raw<M>(service: ApiService<M>): ApiService<Raw<M>> {
  const definition = Object.fromEntries(
    Object.entries(service.definition).map(([name, m]: [string, MethodDefinition<unknown, unknown>]) => [name, { ...m, requestSerialize: (b: unknown) => b as Buffer }]),
  ) as ServiceDefinition;
  return { name: service.name, definition, maxAnswerBytes: service.maxAnswerBytes };
}
const RawUserApi = raw(UserApi);
const RawMeshApi = raw(MeshApi);

/** The gRPC status code and details of a refused call. */
async function refusal(p: Promise<unknown>): Promise<{ code: number | undefined; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { grpcCode?: number; cause?: { details?: string } };
    return { code: e.grpcCode, details: e.cause?.details ?? String(err) };
  }
  return { code: undefined, details: 'the call succeeded' };
}

/** A base-128 varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** One length-delimited protobuf field (wire type 2): tag, length, bytes. */
function lengthDelimited(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

/** A SetManifestRequest whose `manifest` field (1) makes the whole message exactly `size` bytes. */
function manifestMessageOfSize(size: number): Buffer {
  let body = size - 1 - varint(size).length;
  while (1 + varint(body).length + body !== size) body--;
  return lengthDelimited(1, Buffer.alloc(body, 0x41));
}

void t.test('malformed requests: INVALID_ARGUMENT naming the problem, and the Coordinator keeps serving', async (t) => {
  const { h, user } = await Harness.started(t);
  const raw = await PinnedClient.connect(`127.0.0.1:${h.coordinator!.userPort}`, RawUserApi);
  t.teardown(() => raw.close());
  // Refused by the wire scan (tags and lengths), before protobuf decodes anything.
  const undecodable: [string, Buffer, string][] = [
    ['a length running past the end', Buffer.from([0x0a, 0x05]), 'Attest.nonce: length runs past the end of the message'],
    ['a truncated length', Buffer.from([0x0a, 0xff]), 'Attest.nonce: malformed length (expected a varint of at most 5 bytes)'],
    // protobufjs reads a tag or length from 5 bytes and skips 5 more when the fifth says "more": with this 6-byte
    // length it would decode the nonce from 4 bytes later (and the trailing "unknown field" as part of it).
    ['a 6-byte varint length', Buffer.concat([Buffer.from([0x0a, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.alloc(32, 1), Buffer.from([0x4a, 0x02, 0x00, 0x00])]), 'Attest.nonce: malformed length (expected a varint of at most 5 bytes)'],
    ['a 6-byte varint tag', Buffer.concat([Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 0x20]), Buffer.alloc(32, 1)]), 'Attest: malformed field tag'],
    ['a truncated varint tag', Buffer.from([0x80]), 'Attest: malformed field tag'],
    ['a known field with another wire type', Buffer.from([0x0c]), 'Attest.nonce: expected a length-delimited field (wire type 2), got wire type 4'],
    ['JSON, as the old wire carried it', Buffer.from('{"nonce":"' + 'A'.repeat(43) + '="}'), 'Attest: unknown field 15: wire type 3 (groups are not used by this API)'],
    ['a singular field given twice', Buffer.concat([lengthDelimited(1, Buffer.alloc(32)), lengthDelimited(1, Buffer.alloc(32))]), 'Attest.nonce: given more than once'],
    ['65 unknown fields', Buffer.concat(Array.from({ length: 65 }, () => lengthDelimited(9, Buffer.alloc(1)))), 'Attest: more than 64 unknown fields'],
  ];
  for (const [name, bytes, details] of undecodable) {
    const r = await refusal(raw.call('Attest', bytes));
    t.equal(r.code, status.INVALID_ARGUMENT, `${name}: INVALID_ARGUMENT`);
    t.equal(r.details, details, `${name}: named`);
  }
  // Many tiny items cost protobuf an object each: the scan counts them first (the decoder would say "(got 20001 items)").
  const tiny = await refusal(raw.call('SetManifest', Buffer.concat(Array.from({ length: 20_001 }, () => Buffer.from([0x12, 0x00])))));
  t.equal(tiny.details, 'SetManifest.policies: expected at most 10000 items of 0-1048576 bytes (got more than 10000 items)', 'a repeated field over its count, refused before decoding');
  // An empty message decodes (proto3: every field absent) and the field bound refuses what is missing.
  const empty = await refusal(raw.call('Attest', Buffer.alloc(0)));
  t.equal(empty.code, status.INVALID_ARGUMENT, 'an empty message: INVALID_ARGUMENT');
  t.equal(empty.details, 'Attest.nonce: expected 32 bytes (got 0 bytes)', 'naming the missing field');
  // A field of the wrong length, by name; unknown fields around it change nothing.
  const seed = await refusal(raw.call('Recover', Buffer.concat([lengthDelimited(1, Buffer.alloc(66)), lengthDelimited(15, Buffer.from('unknown'))])));
  t.equal(seed.details, 'Recover.seed: expected 64 bytes (got 66 bytes)', 'a field of the wrong length, by name');
  const nested = await refusal(raw.call('SetManifest', Buffer.concat([lengthDelimited(1, Buffer.from('{}')), lengthDelimited(2, Buffer.alloc(1024 * 1024 + 1))])));
  t.equal(nested.details, 'SetManifest.policies: expected at most 10000 items of 0-1048576 bytes (got item 0: 1048577 bytes)', 'an item of a repeated field, by name');
  // Evidence with neither kind set is refused while the handler converts it (a throw before any await).
  const rawMesh = await PinnedClient.connect(`127.0.0.1:${h.coordinator!.meshPort}`, RawMeshApi);
  t.teardown(() => rawMesh.close());
  const noKind = await refusal(rawMesh.call('NewMeshCert', Buffer.concat([lengthDelimited(1, Buffer.alloc(0)), lengthDelimited(2, Buffer.alloc(91, 1)), lengthDelimited(3, Buffer.alloc(32, 2))])));
  t.equal(noKind.code, status.INVALID_ARGUMENT, 'evidence of no kind: INVALID_ARGUMENT');
  t.equal(noKind.details, 'NewMeshCert.evidence: expected exactly one of snp, tdx', 'naming the field');
  t.equal((await rawMesh.call('GetNonce', Buffer.alloc(0))).nonce.length, 32, 'and the mesh API still answers');
  // A refusal of the core keeps its own status and message.
  const state = await refusal(user.call('Recover', await h.recoverRequest(user, new Uint8Array(64), new Uint8Array(32))));
  t.equal(state.code, status.FAILED_PRECONDITION, 'a core refusal: its own status');
  t.equal(state.details, 'the Coordinator is fresh, not in recovery mode', 'and its own message');
  t.equal((await user.nonce()).length, 32, 'the Coordinator still answers');
});

void t.test('an unexpected exception in a handler: INTERNAL, a generic message, nothing of the exception leaked; serving goes on', async (t) => {
  const SECRET = 'seed=5eedc0ffee at /var/lib/ccmesh/secret.key';
  let throwNext = true;
  const parse: ManifestParser = (bytes) => {
    if (throwNext) {
      throwNext = false;
      throw new TypeError(`unexpected fault while reading ${SECRET}`);
    }
    return parseManifest(bytes);
  };
  const { h, user, mesh } = await Harness.started(t, { parseManifest: parse });
  const req = await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]);
  const r = await refusal(user.call('SetManifest', req));
  t.equal(r.code, status.INTERNAL, 'INTERNAL');
  t.equal(r.details, 'internal error (logged by the Coordinator)', 'with the generic message only');
  t.notMatch(r.details, /5eedc0ffee|secret|TypeError|\bat /, 'no part of the exception, its type or its stack');
  t.equal((await mesh.nonce()).length, 32, 'the other API still answers');
  const set = await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  t.match(set.manifestHash, /^[0-9a-f]{64}$/, 'and the same call, retried, succeeds: the fault left no lock or state behind');
});

void t.test('a request over 4 MiB is refused by the transport; one of exactly 4 MiB reaches the handler', async (t) => {
  const { h } = await Harness.started(t);
  const raw = await PinnedClient.connect(`127.0.0.1:${h.coordinator!.userPort}`, RawUserApi);
  t.teardown(() => raw.close());
  const over = await refusal(raw.call('SetManifest', manifestMessageOfSize(MAX_MESSAGE_BYTES + 1), 60_000));
  t.equal(over.code, status.RESOURCE_EXHAUSTED, '4 MiB + 1 byte: RESOURCE_EXHAUSTED');
  t.equal(over.details, `Received message larger than max (${MAX_MESSAGE_BYTES + 1} vs ${MAX_MESSAGE_BYTES})`, 'from the length prefix, before the body is buffered or parsed');
  const at = await refusal(raw.call('SetManifest', manifestMessageOfSize(MAX_MESSAGE_BYTES), 60_000));
  t.equal(at.code, status.INVALID_ARGUMENT, 'exactly 4 MiB: decoded and judged by the handler');
  t.equal(at.details, `SetManifest.manifest: expected 2-1048576 bytes (got ${MAX_MESSAGE_BYTES - 5} bytes)`, '(whose field bound refuses it)');
  t.equal((await raw.call('GetNonce', Buffer.alloc(0))).nonce.length, 32, 'the Coordinator still answers');
  // The pod-facing port takes far less: evidence and a leaf chain fit in MAX_MESH_REQUEST_BYTES several times over.
  const rawMesh = await PinnedClient.connect(`127.0.0.1:${h.coordinator!.meshPort}`, RawMeshApi);
  t.teardown(() => rawMesh.close());
  const meshOver = await refusal(rawMesh.call('RenewMeshCert', manifestMessageOfSize(MAX_MESH_REQUEST_BYTES + 1)));
  t.equal(meshOver.details, `Received message larger than max (${MAX_MESH_REQUEST_BYTES + 1} vs ${MAX_MESH_REQUEST_BYTES})`, 'the MeshAPI refuses a request over its own, smaller limit');
});

void t.test('a pod\'s client refuses an answer over 2 MiB; the UserAPI client reads a history larger than that', async (t) => {
  const tls = await createServerTlsIdentity(systemClock, ['localhost']);
  const server = new Server();
  const big = { rootCa: 'A'.repeat(MAX_MESH_ANSWER_BYTES) };
  const bigSize = MeshApi.definition['GetTrustBundle']!.responseSerialize(big).length;
  const history = { manifests: [Buffer.alloc(3 * 1024 * 1024, 0x41), Buffer.alloc(3 * 1024 * 1024, 0x42)] };
  let nonceCalls = 0;
  const nonce = (_call: unknown, cb: (err: null, res: unknown) => void) => {
    nonceCalls++;
    cb(null, { nonce: Buffer.alloc(32) });
  };
  server.addService(MeshApi.definition, { GetTrustBundle: (_call: unknown, cb: (err: null, res: unknown) => void) => cb(null, big), GetNonce: nonce });
  server.addService(UserApi.definition, { GetManifests: (_call: unknown, cb: (err: null, res: unknown) => void) => cb(null, history), GetNonce: nonce });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], false), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const mesh = await PinnedClient.connect(`127.0.0.1:${port}`, MeshApi);
  t.teardown(() => mesh.close());
  const r = await refusal(mesh.call('GetTrustBundle', {}));
  t.equal(r.code, status.RESOURCE_EXHAUSTED, 'the answer is not delivered');
  t.equal(r.details, `Received message larger than max (${bigSize} vs ${MAX_MESH_ANSWER_BYTES})`, 'refused for its size by the client\'s receive limit, before it is buffered');
  await mesh.call('GetNonce', {});
  t.equal(nonceCalls, 1, 'control: a small answer from the same server is read');
  const user = await PinnedClient.connect(`127.0.0.1:${port}`, UserApi);
  t.teardown(() => user.close());
  const got = await user.call('GetManifests', {});
  t.same(got.manifests.map((m) => m.length), [3 * 1024 * 1024, 3 * 1024 * 1024], 'a 6 MiB history reaches the operator\'s tools');
  t.ok(MAX_HISTORY_ANSWER_BYTES > MAX_MESSAGE_BYTES);
});
