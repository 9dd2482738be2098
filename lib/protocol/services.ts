/**
 * The Coordinator's two gRPC services, loaded from the checked-in `proto/ccmesh/coordinator/v1/coordinator.proto`
 * (codecs by @grpc/proto-loader). The same definitions build the server, the typed clients (`client.ts`) and the
 * server reflection service. Both APIs are unary only.
 */
import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { RefusedRequest } from './limits.js';
import type { MeshApiMethods, UserApiMethods } from './messages.js';
import { type FieldNumbers, scanMessage } from './wire-scan.js';
import { MAX_HISTORY_ANSWER_BYTES, MAX_MESH_ANSWER_BYTES } from './wire.js';

/** The `.proto` file (shipped beside `dist/`, read once at startup). */
export const PROTO_FILE = fileURLToPath(new URL('../../../proto/ccmesh/coordinator/v1/coordinator.proto', import.meta.url));

/** The protobuf package of both services. */
export const PROTO_PACKAGE = 'ccmesh.coordinator.v1';

/**
 * The loaded package: services and messages by full name. Field names in their lowerCamelCase JSON form, enums as
 * value names, every field present after decoding (proto3 defaults), the set oneof member named in `kind`.
 */
export const PROTO_DEFINITION: PackageDefinition = loadSync(PROTO_FILE, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });

/** Where a decoded request records how many bytes it arrived as (read by the server's in-flight budget). */
export const WIRE_SIZE = Symbol('ccmesh.wireSize');

/** The size a request arrived as, when the deserializer recorded it. */
export function wireSizeOf(message: unknown): number | undefined {
  return typeof message === 'object' && message !== null ? (message as { [WIRE_SIZE]?: number })[WIRE_SIZE] : undefined;
}

interface FieldDescriptor { readonly name: string; readonly number: number }

/** Field number → name of every message in the package (what the wire scan needs). */
export const FIELD_NUMBERS: FieldNumbers = Object.freeze(Object.fromEntries(
  Object.entries(PROTO_DEFINITION)
    .filter(([name, def]) => name.startsWith(`${PROTO_PACKAGE}.`) && 'format' in def && (def as { type?: unknown }).type !== undefined)
    .map(([name, def]) => [name.slice(PROTO_PACKAGE.length + 1), new Map(((def as unknown as { type: { field?: FieldDescriptor[] } }).type.field ?? []).map((f) => [f.number, f.name]))]),
));

/** One of the two services, typed by its methods' request and response messages. */
export interface ApiService<M> {
  /** Full service name, e.g. `ccmesh.coordinator.v1.UserAPI`. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  /** The largest answer a client of this service reads. */
  readonly maxAnswerBytes: number;
  /** Type-level only: the methods' request and response types. */
  readonly methods?: M;
}

function loadService<M>(shortName: string, maxAnswerBytes: number): ApiService<M> {
  const name = `${PROTO_PACKAGE}.${shortName}`;
  const loaded = PROTO_DEFINITION[name] as Record<string, MethodDefinition<unknown, unknown>> | undefined;
  if (!loaded || 'format' in loaded) throw new Error(`${PROTO_FILE} defines no service ${name}`);
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [method, def] of Object.entries(loaded)) {
    const requestType = (def as unknown as { requestType: { type: { name: string } } }).requestType.type.name;
    definition[method] = {
      ...def,
      // grpc-js answers INTERNAL for a throwing deserializer; a RefusedRequest reaches the handler instead, whose
      // decoder answers INVALID_ARGUMENT with its reason. The scan runs first, so decoding costs what reading does.
      requestDeserialize: (buf: Buffer): unknown => {
        const problem = scanMessage(FIELD_NUMBERS, requestType, buf, method);
        let decoded: object;
        try {
          decoded = problem === undefined ? (def.requestDeserialize(buf) as object) : new RefusedRequest(problem);
        } catch {
          // Not reached by anything the scan lets through (kept so a decoder surprise is INVALID_ARGUMENT, not INTERNAL).
          decoded = new RefusedRequest(`${method}: expected a ${requestType} message`);
        }
        Object.defineProperty(decoded, WIRE_SIZE, { value: buf.length });
        return decoded;
      },
    };
  }
  return { name, definition: definition as ServiceDefinition, maxAnswerBytes };
}

/** The user API (port 1313): manifests, recovery, the Coordinator's own attestation. */
export const UserApi: ApiService<UserApiMethods> = loadService('UserAPI', MAX_HISTORY_ANSWER_BYTES);

/** The mesh API (port 7777): pods obtain and renew their mesh identity. */
export const MeshApi: ApiService<MeshApiMethods> = loadService('MeshAPI', MAX_MESH_ANSWER_BYTES);
