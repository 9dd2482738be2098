/**
 * gRPC server reflection (v1 and v1alpha, by @grpc/reflection) for one service, bounded: its stream is bidirectional
 * and the library answers every request at once without regard to backpressure, so a client that sends requests
 * and never reads the answers would make it queue them without end. Here each reflection stream
 *   - takes requests of at most {@link MAX_REFLECTION_REQUEST_BYTES} (larger ones end the call),
 *   - reads the next request only once the last answer was written (a client that doesn't read stops being read),
 *   - answers at most {@link MAX_REFLECTION_REQUESTS} requests, then ends,
 * and the server's request budget (`request-budget.ts`) ends it after its lifetime.
 */
import { type MethodDefinition, type Server, type ServerDuplexStream, type ServiceDefinition, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { PROTO_DEFINITION } from '../../lib/protocol/services.js';

/** Largest reflection request accepted (symbol and file names are short). */
export const MAX_REFLECTION_REQUEST_BYTES = 1024;

/** Requests answered per reflection stream (grpcurl needs a handful). */
export const MAX_REFLECTION_REQUESTS = 64;

type Handler = (call: ServerDuplexStream<unknown, unknown>) => void;

/** Backpressure and a request count for one reflection stream, around the library's handler. */
function bounded(handler: Handler): Handler {
  return (call) => {
    let requests = 0;
    const write = call.write.bind(call) as (chunk: unknown) => boolean;
    (call as { write: (chunk: unknown) => boolean }).write = (chunk) => {
      const ok = write(chunk);
      if (!ok) {
        call.pause();
        call.once('drain', () => call.resume());
      }
      return ok;
    };
    // The library answers from its own 'data' listener: each delivery passes through the count first.
    const on = call.on.bind(call) as (event: string, fn: (...args: unknown[]) => void) => typeof call;
    (call as { on: typeof on }).on = (event, fn) =>
      on(event, event !== 'data' ? fn : (...args) => {
        if (++requests <= MAX_REFLECTION_REQUESTS) return fn(...args);
        if (requests === MAX_REFLECTION_REQUESTS + 1) {
          call.pause();
          call.emit('error', Object.assign(new Error('too many reflection requests'), { code: status.RESOURCE_EXHAUSTED, details: `at most ${MAX_REFLECTION_REQUESTS} requests per reflection stream` }));
        }
      });
    handler(call);
  };
}

/** Serves reflection for `serviceName` (a service of the ccmesh `.proto`) on `server`. */
export function addReflection(server: Server, serviceName: string): void {
  new ReflectionService(PROTO_DEFINITION, { services: [serviceName] }).addToServer({
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const def: Record<string, MethodDefinition<unknown, unknown>> = {};
      const impl: Record<string, Handler> = {};
      for (const [name, m] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
        def[name] = {
          ...m,
          requestDeserialize: (buf: Buffer) => {
            if (buf.length > MAX_REFLECTION_REQUEST_BYTES) throw new Error(`a reflection request of ${buf.length} bytes (at most ${MAX_REFLECTION_REQUEST_BYTES})`);
            return m.requestDeserialize(buf);
          },
        };
        impl[name] = bounded(implementation[name] as unknown as Handler);
      }
      server.addService(def as ServiceDefinition, impl as unknown as UntypedServiceImplementation);
    },
  });
}
