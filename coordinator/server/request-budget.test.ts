/**
 * Attacks on what the Coordinator holds for unauthenticated callers (`request-budget.ts`, `reflection.ts`), against
 * a real Coordinator: requests sent and never completed (gzip'd, so they cost the attacker a few KB each) run into
 * the server's budget and are ended after COMPLETE_WITHIN_MS, after which the budget is whole again; a reflection
 * stream answers a bounded number of requests of a bounded size.
 */
import t from 'tap';
import { Client, type ClientDuplexStream, type ClientWritableStream, credentials, loadPackageDefinition, Metadata, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Harness } from '../test/harness.js';
import { fetchServerCertificate } from '../../lib/protocol/client.js';
import { MAX_MESSAGE_BYTES } from '../../lib/protocol/wire.js';
import { COMPLETE_WITHIN_MS } from './grpc-servers.js';
import { MAX_REFLECTION_REQUEST_BYTES, MAX_REFLECTION_REQUESTS } from './reflection.js';

async function channel(address: string, options: Record<string, number | string> = {}) {
  const cert = await fetchServerCertificate(address);
  const creds = credentials.createSsl(Buffer.from(cert.toString()), null, null, { checkServerIdentity: () => undefined });
  return new Client(address, creds, { 'grpc.ssl_target_name_override': 'ccmesh-coordinator', ...options });
}

/** A SetManifestRequest whose manifest field holds `n` bytes (refused by its field limit once complete). */
function bigRequest(n: number): Buffer {
  const len: number[] = [];
  for (let v = n; ; v = Math.floor(v / 128)) {
    if (v < 0x80) {
      len.push(v);
      break;
    }
    len.push((v & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...len]), Buffer.alloc(n, 0x41)]);
}

/** Opens SetManifest as a stream, sends `request` and never half-closes; resolves with how the call ended. */
function heldOpen(client: Client, request: Buffer): { stream: ClientWritableStream<Buffer>; ended: Promise<{ code: number; details: string }> } {
  let stream!: ClientWritableStream<Buffer>;
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream = client.makeClientStreamRequest('/ccmesh.coordinator.v1.UserAPI/SetManifest', (b: Buffer) => b, (b: Buffer) => b, new Metadata(), {}, (err) =>
      resolve({ code: err?.code ?? status.OK, details: err?.details ?? '' }));
  });
  stream.write(request);
  return { stream, ended };
}

void t.test('incomplete requests: the budget refuses the 17th 4 MiB request, each is ended in time, then the budget is whole again', async (t) => {
  const { h, user } = await Harness.started(t);
  const address = `127.0.0.1:${h.coordinator!.userPort}`;
  // gzip: each 4 MiB request costs the sender a few KB.
  const clients = await Promise.all([channel(address, { 'grpc.default_compression_algorithm': 2 }), channel(address, { 'grpc.default_compression_algorithm': 2 })]);
  t.teardown(() => clients.forEach((c) => c.close()));
  const request = bigRequest(MAX_MESSAGE_BYTES - 8);
  const held = Array.from({ length: 16 }, (_, i) => heldOpen(clients[i % 2]!, request));
  // Let the 16 arrive before the 17th.
  await new Promise((r) => setTimeout(r, 1500));
  const over = heldOpen(clients[0]!, request);
  const refused = await over.ended;
  t.equal(refused.code, status.RESOURCE_EXHAUSTED, 'the 17th incomplete 4 MiB request: RESOURCE_EXHAUSTED');
  t.match(refused.details, /holds too many incomplete requests/, 'saying why');
  const pending = await Promise.race([held[0]!.ended, new Promise((r) => setTimeout(() => r('pending'), 100))]);
  t.equal(pending, 'pending', 'the first 16 are still held (within their time)');
  const deadline = new Promise<{ code: number; details: string }>((r) => setTimeout(() => r({ code: -1, details: 'still held 10 s after its time' }), COMPLETE_WITHIN_MS + 10_000).unref());
  const ends = await Promise.all(held.map((x) => Promise.race([x.ended, deadline])));
  t.same([...new Set(ends.map((e) => e.code))], [status.DEADLINE_EXCEEDED], 'each held request is ended…');
  t.match(ends[0]!.details, new RegExp(`not complete within ${COMPLETE_WITHIN_MS} ms`), '…for not being complete in time');
  t.equal((await user.nonce()).length, 32, 'a normal request is served meanwhile and after');
  const complete = heldOpen(clients[1]!, request);
  complete.stream.end();
  const judged = await complete.ended;
  t.equal(judged.code, status.INVALID_ARGUMENT, 'the budget is whole again: a complete 4 MiB request reaches its field check');
  const metrics = await (await fetch(`http://127.0.0.1:${h.coordinator!.metricsPort}/metrics`)).text();
  t.match(metrics, /ccmesh_coordinator_load_shed_total\{limit="held_requests"[^}]*\} 1\n/, 'the refusal is counted');
  t.match(metrics, /ccmesh_coordinator_load_shed_total\{limit="incomplete_request"[^}]*\} 16\n/, 'and so is each request ended for being incomplete');
});

const REFLECTION_PROTO = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

void t.test('a reflection stream answers at most MAX_REFLECTION_REQUESTS requests, of at most MAX_REFLECTION_REQUEST_BYTES', async (t) => {
  const { h } = await Harness.started(t);
  const address = `127.0.0.1:${h.coordinator!.meshPort}`;
  const pkg = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: false, defaults: true, oneofs: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (a: string, c: unknown, o: object) => { ServerReflectionInfo(): ClientDuplexStream<unknown, unknown>; close(): void } } } };
  };
  const cert = await fetchServerCertificate(address);
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createSsl(Buffer.from(cert.toString()), null, null, { checkServerIdentity: () => undefined }), { 'grpc.ssl_target_name_override': 'ccmesh-coordinator' });
  t.teardown(() => client.close());
  const run = (requests: object[]) =>
    new Promise<{ answers: number; code: number }>((resolve) => {
      const stream = client.ServerReflectionInfo();
      let answers = 0;
      stream.on('data', () => answers++);
      stream.on('error', (err: { code: number }) => resolve({ answers, code: err.code }));
      stream.on('end', () => resolve({ answers, code: status.OK }));
      for (const r of requests) stream.write(r);
      stream.end();
    });
  const ok = await run(Array.from({ length: MAX_REFLECTION_REQUESTS }, () => ({ listServices: '' })));
  t.same(ok, { answers: MAX_REFLECTION_REQUESTS, code: status.OK }, `${MAX_REFLECTION_REQUESTS} requests: all answered`);
  const over = await run(Array.from({ length: MAX_REFLECTION_REQUESTS + 20 }, () => ({ listServices: '' })));
  t.same(over, { answers: MAX_REFLECTION_REQUESTS, code: status.RESOURCE_EXHAUSTED }, 'more: the stream ends after the limit, RESOURCE_EXHAUSTED');
  const big = await run([{ host: 'h'.repeat(MAX_REFLECTION_REQUEST_BYTES), listServices: '' }]);
  t.equal(big.answers, 0, 'a request over the size limit is not answered');
  t.not(big.code, status.OK, `and ends the stream (${big.code})`);
});
