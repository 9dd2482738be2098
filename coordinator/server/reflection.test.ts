/**
 * Server reflection (`grpc-servers.ts`): a generic client that knows nothing of ccmesh's `.proto` lists each port's
 * services through the standard reflection API, fetches the service's file descriptor, builds its codecs from that
 * alone and calls the Coordinator with them — what `grpcurl` does. Each port names only the service it serves.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type ClientDuplexStream, credentials, loadPackageDefinition, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync } from '@grpc/proto-loader';
import { Harness } from '../test/harness.js';
import { fetchServerCertificate } from '../../lib/protocol/client.js';

const require = createRequire(import.meta.url);
/** The reflection API's own `.proto`, as shipped by @grpc/reflection (the standard grpc.reflection.v1 file). */
const REFLECTION_PROTO = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] } | null;
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } | null;
  errorResponse?: { errorCode: number; errorMessage: string } | null;
}

type GenericCall = (req: unknown, cb: (err: Error | null, res: Record<string, unknown>) => void) => void;

/** A generic client of `address` that trusts exactly the certificate the server presents now. */
async function channelTo(address: string) {
  const cert = await fetchServerCertificate(address);
  const creds = credentials.createSsl(Buffer.from(cert.toString()), null, null, { checkServerIdentity: () => undefined });
  return { creds, options: { 'grpc.ssl_target_name_override': 'ccmesh-coordinator' } };
}

/** Asks the reflection service one question per request on one stream, in order. */
async function reflect(address: string, requests: Record<string, string>[]): Promise<ReflectionResponse[]> {
  const pkg = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: false, defaults: true, oneofs: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: unknown, options: object) => { ServerReflectionInfo(): ClientDuplexStream<unknown, ReflectionResponse>; close(): void } } } };
  };
  const { creds, options } = await channelTo(address);
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, creds, options);
  try {
    const stream = client.ServerReflectionInfo();
    const answers: ReflectionResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (r: ReflectionResponse) => {
        answers.push(r);
        if (answers.length === requests.length) stream.end();
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    for (const r of requests) stream.write(r);
    await done;
    return answers;
  } finally {
    client.close();
  }
}

/** FileDescriptorProto bytes → a FileDescriptorSet (field 1, repeated). */
function descriptorSet(files: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const len: number[] = [];
    for (let n = f.length; ; n = Math.floor(n / 128)) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    parts.push(Buffer.from([0x0a, ...len]), f);
  }
  return Buffer.concat(parts);
}

for (const api of ['UserAPI', 'MeshAPI'] as const) {
  void t.test(`the ${api} port: reflection lists its service, and a client built from reflection alone calls it`, async (t) => {
    const { h } = await Harness.started(t);
    const address = `127.0.0.1:${api === 'UserAPI' ? h.coordinator!.userPort : h.coordinator!.meshPort}`;
    const service = `ccmesh.coordinator.v1.${api}`;
    const [list, file, missing] = await reflect(address, [{ listServices: '' }, { fileContainingSymbol: service }, { fileContainingSymbol: 'ccmesh.coordinator.v1.NoSuchService' }]);
    const names = (list?.listServicesResponse?.service ?? []).map((s) => s.name).sort();
    t.same(names, [service], 'the ccmesh service this port serves, and no other');
    t.equal(missing?.errorResponse?.errorCode, 5, 'an unknown symbol: NOT_FOUND');

    const files = file?.fileDescriptorResponse?.fileDescriptorProto ?? [];
    t.ok(files.length >= 1, 'a file descriptor for the service');
    const reflected = loadFileDescriptorSetFromBuffer(descriptorSet(files), { keepCase: false, defaults: true });
    const definition = reflected[service] as ServiceDefinition | undefined;
    t.ok(definition, `the descriptor defines ${service}`);
    if (!definition) return;
    t.ok('GetNonce' in definition && 'Attest' in definition, 'with its methods');
    const Ctor = makeGenericClientConstructor(definition, api);
    const { creds, options } = await channelTo(address);
    const client = new Ctor(address, creds, options) as unknown as Record<string, GenericCall> & { close(): void };
    t.teardown(() => client.close());
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => client['GetNonce']!.call(client, {}, (err, res) => (err ? reject(err) : resolve(res))));
    t.equal((answer['nonce'] as Buffer).length, 32, 'GetNonce through the reflected codecs: a 32-byte nonce');
  });
}
