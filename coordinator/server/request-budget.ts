/**
 * Bounds what unauthenticated callers can make the Coordinator hold. grpc-js runs a unary handler only once the
 * client half-closes its stream, and keeps the decoded request until then; without a bound, streams that send a
 * large request and never finish it pin memory for free (a gzip'd request costs the sender a thousandth of what it
 * decompresses to). This server interceptor
 *   - keeps a per-server budget of bytes received in requests whose streams are still open (RESOURCE_EXHAUSTED when
 *     a request would exceed it), released at half-close, on cancel and when the call ends, and
 *   - ends a call whose request is not complete within `completeWithinMs` (DEADLINE_EXCEEDED), and a streaming call
 *     (reflection) that lasts longer than `streamLifetimeMs`.
 */
import { type ServerInterceptor, ServerInterceptingCall, ServerListenerBuilder, ResponderBuilder, status } from '@grpc/grpc-js';
import { wireSizeOf } from '../../lib/protocol/services.js';

/** Limits of one server's {@link requestBudget}. */
export interface RequestBudgetLimits {
  /** Most request bytes held across all open calls. */
  readonly maxHeldBytes: number;
  /** A unary request must be complete (half-closed) this long after it started. */
  readonly completeWithinMs: number;
  /** A streaming call ends after this long. */
  readonly streamLifetimeMs: number;
  /** Size assumed for a message whose size the deserializer did not record (reflection requests, bounded elsewhere). */
  readonly unrecordedMessageBytes: number;
}

/** The live state, for metrics and tests. */
export interface RequestBudget {
  readonly interceptor: ServerInterceptor;
  /** Bytes currently held. */
  held(): number;
}

/** A budget for one gRPC server. */
export function requestBudget(limits: RequestBudgetLimits, onRefused: (reason: 'budget' | 'incomplete') => void): RequestBudget {
  let held = 0;
  const interceptor: ServerInterceptor = (method, call) => {
    let mine = 0;
    let ended = false;
    const release = (): void => {
      held -= mine;
      mine = 0;
    };
    const lifetime = method.requestStream ? limits.streamLifetimeMs : limits.completeWithinMs;
    const timer = setTimeout(() => {
      if (!method.requestStream) onRefused('incomplete');
      end(status.DEADLINE_EXCEEDED, method.requestStream ? `stream ended after ${lifetime} ms` : `the request was not complete within ${lifetime} ms`);
    }, lifetime);
    timer.unref();
    const finish = (): void => {
      ended = true;
      clearTimeout(timer);
      release();
    };
    /** Ends the call from here (the handler never sees the request, or is cut off). */
    function end(code: status, details: string): void {
      if (ended) return;
      finish();
      call.sendStatus({ code, details });
    }
    const listener = new ServerListenerBuilder()
      .withOnReceiveMessage((message, next) => {
        const size = wireSizeOf(message) ?? limits.unrecordedMessageBytes;
        if (held + size > limits.maxHeldBytes) {
          onRefused('budget');
          end(status.RESOURCE_EXHAUSTED, 'the Coordinator holds too many incomplete requests; retry later');
          return;
        }
        held += size;
        mine += size;
        next(message);
        // A stream's messages are handled one by one as they arrive: hold each only while it is delivered.
        if (method.requestStream) release();
      })
      .withOnReceiveHalfClose((next) => {
        if (!method.requestStream) clearTimeout(timer);
        release();
        next();
      })
      .withOnCancel(finish)
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((s, next) => {
        finish();
        next(s);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
  return { interceptor, held: () => held };
}
