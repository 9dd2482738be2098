/**
 * The data path of one connection: two sockets joined by `stream.pipeline` in both directions. Half-close travels
 * (one side's end becomes the other side's end, the reverse direction keeps flowing); any error on either side
 * destroys both, so no socket outlives its partner. Nothing here runs per chunk except the streams' own code.
 */
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';

/** Called once when both sockets are finished or destroyed; `failed` when it ended with an error. */
export type SpliceDone = (failed: boolean) => void;

/**
 * Joins `a` (the accepted side) and `b` (the connected side). Both must have `allowHalfOpen: true`. The idle timer
 * is each socket's own (`setTimeout`, reset by Node on every read and write), so it costs nothing per chunk.
 */
export function splice(a: Socket, b: Socket, idleTimeoutMs: number, done: SpliceDone): void {
  let pending = 2;
  let failed = false;
  const finish = (err: Error | null | undefined): void => {
    if (err) {
      failed = true;
      // pipeline destroyed its two streams; the other direction's pipeline then ends with a premature close.
      a.destroy();
      b.destroy();
    }
    if (--pending === 0) {
      // Both directions ended cleanly; a socket that autoDestroy has not closed yet goes now.
      a.destroy();
      b.destroy();
      done(failed);
    }
  };
  const idle = (): void => {
    a.destroy();
    b.destroy();
  };
  a.setTimeout(idleTimeoutMs, idle);
  b.setTimeout(idleTimeoutMs, idle);
  pipeline(a, b, finish);
  pipeline(b, a, finish);
}
