/**
 * The gRPC edge of a real Coordinator (`handlers.ts`, `grpc-servers.ts`) and the message bound of both ends
 * (`lib/protocol/services.ts`): a malformed request gets INVALID_ARGUMENT naming the field, an unexpected exception
 * in a handler becomes INTERNAL with a generic message (nothing of the exception reaches the client) and the server
 * keeps serving; a request over 4 MiB is refused by the transport before any handler runs, and a client refuses an
 * answer over 4 MiB.
 */
import t from 'tap';
import { type MethodDefinition, Server, ServerCredentials, type ServiceDefinition, status } from '@grpc/grpc-js';
import { Harness } from '../test/harness.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import type { ManifestParser } from '../core/coordinator.js';
import { createServerTlsIdentity } from '../tls/server-identity.js';
import { systemClock } from '../../lib/clock.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MAX_HISTORY_ANSWER_BYTES, MAX_MESSAGE_BYTES } from '../../lib/protocol/wire.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';

/** The UserAPI with requests sent as raw bytes (anything a peer can put on the wire), answers read as JSON. */
const RawUserApi: ServiceDefinition = Object.fromEntries(
  Object.entries(UserApi).map(([name, m]: [string, MethodDefinition<unknown, unknown>]) => [name, { ...m, requestSerialize: (b: unknown) => b as Buffer }]),
);

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

/** A JSON object `{"manifest":"AAAA…"}` of exactly `size` bytes. */
function manifestMessageOfSize(size: number): Buffer {
  const overhead = Buffer.byteLength('{"manifest":""}');
  return Buffer.from(`{"manifest":"${'A'.repeat(size - overhead)}"}`);
}

void t.test('malformed requests: INVALID_ARGUMENT naming the problem, and the Coordinator keeps serving', async (t) => {
  const { h, user } = await Harness.started(t);
  const raw = await PinnedClient.connect(`127.0.0.1:${h.coordinator!.userPort}`, RawUserApi);
  t.teardown(() => raw.close());
  for (const [name, bytes] of [['a JSON array', '[{"nonce":"AAAA"}]'], ['a JSON string', '"x"'], ['a JSON number', '7']] as const) {
    const r = await refusal(raw.call('Attest', Buffer.from(bytes)));
    t.equal(r.code, status.INVALID_ARGUMENT, `${name}: INVALID_ARGUMENT`);
    t.equal(r.details, 'Attest: expected a JSON object', `${name}: says the message is not an object`);
  }
  // JSON null and bytes that are not JSON are refused the same way (grpc-js would take null for "no message").
  for (const [name, bytes] of [['JSON null', 'null'], ['bytes that are not JSON', '{"nonce":'], ['not UTF-8 JSON at all', '\u00ff\u00fe']] as const) {
    const r = await refusal(raw.call('Attest', Buffer.from(bytes, 'latin1')));
    t.equal(r.code, status.INVALID_ARGUMENT, `${name}: INVALID_ARGUMENT`);
    t.equal(r.details, 'Attest: expected a JSON object', `${name}: says the message is not an object`);
  }
  // A field error thrown while the handler decodes its request (before any await).
  const field = await refusal(user.call('SetManifest', { manifest: 17, policies: [] }));
  t.equal(field.code, status.INVALID_ARGUMENT, 'a wrongly typed field: INVALID_ARGUMENT');
  t.equal(field.details, 'SetManifest.manifest: expected base64 of 2-1048576 bytes', 'naming the field');
  const nested = await refusal(user.call('Recover', { seed: 'A'.repeat(88), salt: 'A'.repeat(44), nonce: 'A'.repeat(44), ownerKey: 'ab', signature: 'A'.repeat(88) }));
  t.equal(nested.details, 'Recover.seed: expected base64 of 64-64 bytes (got 66)', 'a field of the wrong length, by name');
  // A refusal of the core keeps its own status and message.
  const state = await refusal(user.call('Recover', await h.recoverRequest(user, new Uint8Array(64), new Uint8Array(32))));
  t.equal(state.code, status.FAILED_PRECONDITION, 'a core refusal: its own status');
  t.equal(state.details, 'the Coordinator is fresh, not in recovery mode', 'and its own message');
  const after = (await user.call<{ nonce: string }>('GetNonce', {})).nonce;
  t.equal(Buffer.from(after, 'base64').length, 32, 'the Coordinator still answers');
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
  t.equal(Buffer.from((await mesh.call<{ nonce: string }>('GetNonce', {})).nonce, 'base64').length, 32, 'the other API still answers');
  const set = await user.call<{ manifestHash: string }>('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
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
  t.equal(at.details, 'SetManifest.manifest: expected base64 of 2-1048576 bytes', '(whose field bound refuses it)');
  t.equal(Buffer.from((await raw.call<{ nonce: string }>('GetNonce', Buffer.from('{}'))).nonce, 'base64').length, 32, 'the Coordinator still answers');
});

void t.test('a pod\'s client refuses an answer over 4 MiB; the UserAPI client reads a history larger than that', async (t) => {
  const tls = await createServerTlsIdentity(systemClock, ['localhost']);
  const server = new Server();
  const big = { rootCa: 'A'.repeat(MAX_MESSAGE_BYTES) };
  const history = { manifests: ['A'.repeat(3 * 1024 * 1024), 'B'.repeat(3 * 1024 * 1024)] };
  let nonceCalls = 0;
  const nonce = (_call: unknown, cb: (err: null, res: unknown) => void) => {
    nonceCalls++;
    cb(null, { nonce: Buffer.alloc(32).toString('base64') });
  };
  server.addService(MeshApi, { GetTrustBundle: (_call: unknown, cb: (err: null, res: unknown) => void) => cb(null, big), GetNonce: nonce });
  server.addService(UserApi, { GetManifests: (_call: unknown, cb: (err: null, res: unknown) => void) => cb(null, history), GetNonce: nonce });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], false), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const mesh = await PinnedClient.connect(`127.0.0.1:${port}`, MeshApi);
  t.teardown(() => mesh.close());
  const r = await refusal(mesh.call('GetTrustBundle', {}));
  t.equal(r.code, status.RESOURCE_EXHAUSTED, 'the answer is not delivered');
  t.equal(r.details, `Received message larger than max (${Buffer.byteLength(JSON.stringify(big))} vs ${MAX_MESSAGE_BYTES})`, 'refused for its size by the client\'s receive limit, before it is buffered');
  await mesh.call('GetNonce', {});
  t.equal(nonceCalls, 1, 'control: a small answer from the same server is read');
  const user = await PinnedClient.connect(`127.0.0.1:${port}`, UserApi);
  t.teardown(() => user.close());
  const got = await user.call<{ manifests: string[] }>('GetManifests', {});
  t.same(got.manifests.map((m) => m.length), [3 * 1024 * 1024, 3 * 1024 * 1024], 'a 6 MiB history reaches the operator\'s tools');
  t.ok(MAX_HISTORY_ANSWER_BYTES > MAX_MESSAGE_BYTES);
});
