/**
 * Fuzz target of every Coordinator request decoder, as grpc-js runs it: the wire scan and protobuf decoding (the
 * services' request deserializer), then the per-field limits and the evidence oneof (what the handlers run before
 * any handler code). The first input byte picks the method; the rest is the request message.
 */
import type { MethodDefinition } from '@grpc/grpc-js';
import { decodeMessage, readEvidence } from '../../../lib/protocol/limits.js';
import type { EvidenceMessage } from '../../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../../lib/protocol/services.js';
import { WireError } from '../../../lib/protocol/wire.js';
import { FuzzViolation, refusedWith, type FuzzTarget } from '../target.js';

/** A request method as grpc-js serves it. */
export interface RequestMethod {
  readonly method: string;
  readonly requestType: string;
  readonly definition: MethodDefinition<unknown, unknown>;
}

/** Every method of both services, in a fixed order (the first input byte indexes it, modulo the count). */
export const REQUEST_METHODS: readonly RequestMethod[] = [UserApi, MeshApi].flatMap((api) =>
  Object.entries(api.definition).map(([method, def]) => ({
    method: `${api.name.split('.').pop()!}.${method}`,
    requestType: (def as unknown as { requestType: { type: { name: string } } }).requestType.type.name,
    definition: def as MethodDefinition<unknown, unknown>,
  })),
);

/** Decodes `message` as `m`'s request the way the Coordinator does; throws WireError for a refusal. */
export function decodeRequest(m: RequestMethod, message: Buffer): Record<string, unknown> {
  const decoded = m.definition.requestDeserialize(message);
  const request = decodeMessage(m.method, m.requestType, decoded);
  if (request.evidence !== undefined) readEvidence(`${m.method}.evidence`, request.evidence as EvidenceMessage);
  return request;
}

export const PROTOCOL_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'coordinator-request',
    what: `every Coordinator request (${REQUEST_METHODS.length} methods): wire scan, protobuf, field limits, evidence oneof; accepted requests re-encode and decode to the same fields`,
    kind: 'bytes',
    run: (b) => {
      const bytes = b as Uint8Array;
      if (bytes.length === 0) return;
      const m = REQUEST_METHODS[bytes[0]! % REQUEST_METHODS.length]!;
      const request = decodeRequest(m, Buffer.from(bytes.subarray(1)));
      // What was accepted must survive the codec: serialize and decode again to the same fields.
      const again = decodeRequest(m, m.definition.requestSerialize(request));
      if (JSON.stringify(again) !== JSON.stringify(request)) throw new FuzzViolation(`${m.method}: a re-encoded request decodes differently`);
    },
    refusal: refusedWith(WireError),
  },
];
