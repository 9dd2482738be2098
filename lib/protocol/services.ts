/**
 * gRPC service definitions for @grpc/grpc-js without protobuf: each method (de)serialises JSON (sizes are bounded by
 * the receive limit of the server and of `PinnedClient`, MAX_MESSAGE_BYTES in wire.ts).
 * Both APIs are unary only. The same definitions build the server and the clients.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

function serialize(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * What an unreadable body or JSON `null` decodes to. grpc-js takes `undefined` or `null` for "no message" and answers
 * UNIMPLEMENTED without calling the handler; a non-object value instead reaches the handler, whose `WireReader`
 * refuses it with INVALID_ARGUMENT "…: expected a JSON object", like every other malformed message.
 */
const NOT_A_MESSAGE = 'not a JSON message';

/** Size is bounded before this runs: both the server and `PinnedClient` set grpc-js' receive limit to MAX_MESSAGE_BYTES. */
function deserialize(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) ?? NOT_A_MESSAGE;
  } catch {
    return NOT_A_MESSAGE;
  }
}

function method(service: string, name: string): MethodDefinition<unknown, unknown> {
  return {
    path: `/${service}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    originalName: name,
  };
}

function service<const N extends string>(name: string, methods: readonly N[]): ServiceDefinition & Record<N, MethodDefinition<unknown, unknown>> {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of methods) def[m] = method(name, m);
  return def as ServiceDefinition & Record<N, MethodDefinition<unknown, unknown>>;
}

/** The user API (port 1313): manifests, recovery, the Coordinator's own attestation. */
export const UserApi = service('ccmesh.coordinator.v1.UserAPI', ['GetNonce', 'Attest', 'SetManifest', 'GetManifests', 'Recover'] as const);

/** The mesh API (port 7777): pods obtain and renew their mesh identity. */
export const MeshApi = service('ccmesh.coordinator.v1.MeshAPI', ['GetNonce', 'Attest', 'NewMeshCert', 'RenewMeshCert', 'GetTrustBundle'] as const);
