/**
 * Binds the UserAPI and MeshAPI gRPC servers with the Coordinator's TLS identity. Each port also serves gRPC server
 * reflection for the one service it carries (`reflection.ts`), so `grpcurl` and other generic clients can list and
 * call the API without the `.proto` file. What unauthenticated callers can make either server hold is bounded: the
 * request size (from the length prefix), streams per connection, and the bytes of incomplete requests across all
 * connections (`request-budget.ts`).
 */
import { type ChannelOptions, Server, ServerCredentials } from '@grpc/grpc-js';
import { listenFailed } from '../../lib/net/listen-error.js';
import type { Logger } from '../../lib/log.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { MAX_MESH_REQUEST_BYTES, MAX_MESSAGE_BYTES } from '../../lib/protocol/wire.js';
import type { Coordinator } from '../core/coordinator.js';
import type { CoordinatorMetrics } from '../metrics.js';
import type { ServerTlsIdentity } from '../tls/ephemeral-tls-identity.js';
import { meshApiImplementation, userApiImplementation } from './handlers.js';
import { addReflection } from './reflection.js';
import { requestBudget } from './request-budget.js';

/** A started gRPC server and the port it got. */
export interface BoundServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Bytes of incomplete requests one server holds at most: 16 UserAPI requests of the largest size, or 128 MeshAPI
 * ones. A caller that sends requests and never completes them gets RESOURCE_EXHAUSTED once this is spent, and
 * each such request is ended after {@link COMPLETE_WITHIN_MS}.
 */
const HELD_REQUESTS = { user: 16 * MAX_MESSAGE_BYTES, mesh: 128 * MAX_MESH_REQUEST_BYTES };

/** A unary request must be complete this long after its stream opened (pods and the CLI send theirs at once). */
export const COMPLETE_WITHIN_MS = 10_000;

/** A reflection stream ends after this long. */
const REFLECTION_LIFETIME_MS = 60_000;

function serverOptions(maxRequestBytes: number): ChannelOptions {
  return {
    // The transport refuses a larger request from its length prefix, before buffering or parsing it.
    'grpc.max_receive_message_length': maxRequestBytes,
    'grpc.max_concurrent_streams': 32,
    'grpc.keepalive_time_ms': 60_000,
  };
}

async function bind(server: Server, address: string, tls: ServerTlsIdentity): Promise<number> {
  const creds = ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], false);
  return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), 5000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
}

/** Starts both APIs; `host` is the listen address ("0.0.0.0", "127.0.0.1", "::"). */
export async function startGrpcServers(
  core: Coordinator,
  tls: ServerTlsIdentity,
  listen: { host: string; userPort: number; meshPort: number },
  logger: Logger,
  metrics: CoordinatorMetrics,
  names: { readonly user: string; readonly mesh: string } = { user: 'the user API port', mesh: 'the mesh API port' },
  onOpened: (close: () => Promise<void>) => void = () => undefined,
): Promise<{ user: BoundServer; mesh: BoundServer }> {
  const hostPart = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const refused = (reason: 'budget' | 'incomplete'): void => metrics.loadShed.inc({ limit: reason === 'budget' ? 'held_requests' : 'incomplete_request' });
  const budget = (maxHeldBytes: number) =>
    requestBudget({ maxHeldBytes, completeWithinMs: COMPLETE_WITHIN_MS, streamLifetimeMs: REFLECTION_LIFETIME_MS, unrecordedMessageBytes: 1024 }, refused).interceptor;
  const user = new Server({ ...serverOptions(MAX_MESSAGE_BYTES), interceptors: [budget(HELD_REQUESTS.user)] });
  user.addService(UserApi.definition, userApiImplementation(core, logger, metrics));
  addReflection(user, UserApi.name);
  const mesh = new Server({ ...serverOptions(MAX_MESH_REQUEST_BYTES), interceptors: [budget(HELD_REQUESTS.mesh)] });
  mesh.addService(MeshApi.definition, meshApiImplementation(core, logger, metrics));
  addReflection(mesh, MeshApi.name);
  // Each server is handed to onOpened before it binds: a failed second bind must not leave the first listening.
  onOpened(closer(user));
  const userPort = await bind(user, `${hostPart}:${listen.userPort}`, tls).catch((err: unknown) => { throw listenFailed(names.user, listen.host, listen.userPort, err); });
  onOpened(closer(mesh));
  const meshPort = await bind(mesh, `${hostPart}:${listen.meshPort}`, tls).catch((err: unknown) => { throw listenFailed(names.mesh, listen.host, listen.meshPort, err); });
  return { user: { port: userPort, close: closer(user) }, mesh: { port: meshPort, close: closer(mesh) } };
}

