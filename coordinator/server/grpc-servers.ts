/** Binds the UserAPI and MeshAPI gRPC servers with the Coordinator's TLS identity. */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { MAX_MESSAGE_BYTES } from '../../lib/protocol/wire.js';
import type { Coordinator } from '../core/coordinator.js';
import type { CoordinatorMetrics } from '../metrics.js';
import type { ServerTlsIdentity } from '../tls/server-identity.js';
import { meshApiImplementation, userApiImplementation } from './handlers.js';

/** A started gRPC server and the port it got. */
export interface BoundServer {
  readonly port: number;
  close(): Promise<void>;
}

const SERVER_OPTIONS = {
  // The transport refuses a larger request from its length prefix, before buffering or parsing it.
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_concurrent_streams': 256,
  'grpc.keepalive_time_ms': 60_000,
};

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
): Promise<{ user: BoundServer; mesh: BoundServer }> {
  const hostPart = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const user = new Server(SERVER_OPTIONS);
  user.addService(UserApi, userApiImplementation(core, logger, metrics));
  const mesh = new Server(SERVER_OPTIONS);
  mesh.addService(MeshApi, meshApiImplementation(core, logger, metrics));
  const userPort = await bind(user, `${hostPart}:${listen.userPort}`, tls);
  const meshPort = await bind(mesh, `${hostPart}:${listen.meshPort}`, tls);
  return { user: { port: userPort, close: closer(user) }, mesh: { port: meshPort, close: closer(mesh) } };
}
