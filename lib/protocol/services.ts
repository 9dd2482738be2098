/**
 * gRPC service definitions for @grpc/grpc-js without protobuf: each method (de)serialises JSON with a size bound.
 * Both APIs are unary only. The same definitions build the server and the clients.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES, WireError } from './wire.js';

function serialize(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function deserialize(buf: Buffer): unknown {
  if (buf.length > MAX_MESSAGE_BYTES) throw new WireError(`message of ${buf.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    // Deserialisation errors surface as INTERNAL in grpc-js; handlers re-validate everything anyway.
    return undefined;
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
