/**
 * The data path of one connection: two sockets joined in both directions by a hand-written pump (no
 * `stream.pipeline`). Half-close travels (one side's end becomes the other side's end, the reverse direction keeps
 * flowing); any error, idle timeout or premature close on either side destroys both, so no socket outlives its
 * partner. Backpressure: a source pauses when its destination's `write()` returns false and resumes on 'drain', so
 * each leg buffers at most its highWaterMark.
 *
 * Why not `pipeline`: per connection it builds two pipe() closures, end-of-stream watchers and destroyers (about
 * twenty closures and listeners), and per chunk it adds its own bookkeeping. Here every listener is one shared
 * module-level function that finds its connection through a symbol on the socket: per connection the only
 * allocation is one {@link Link}; per chunk the only work is `write()` (and `pause()` under backpressure).
 *
 * Measured and not done: corking the destination to merge the 16 KiB records a TLS socket delivers one by one into
 * one writev cut write(2) calls 4× on that leg, but cost more CPU over both sidecars (the corked batch reaches the
 * 64 KiB mark, so the source pauses and resumes every turn); each chunk is written as it comes.
 */
import type { Socket } from 'node:net';

/** Called once when both sockets are closed; `failed` when it ended with an error, timeout or premature close. */
export type SpliceDone = (failed: boolean) => void;

/** One spliced connection; referenced from both sockets under {@link LINK}. */
interface Link {
  readonly a: Socket;
  readonly b: Socket;
  readonly done: SpliceDone;
  /** Sockets that emitted 'close' (0, 1, 2). */
  closed: number;
  failed: boolean;
}

const LINK = Symbol('ccmesh.splice');
type Linked = Socket & { [LINK]: Link };

function peerOf(s: Socket): Socket {
  const l = (s as Linked)[LINK];
  return l.a === s ? l.b : l.a;
}

// The listeners below run with `this` = the emitting socket (EventEmitter's contract).

function onData(this: Socket, chunk: Buffer): void {
  if (!peerOf(this).write(chunk)) this.pause();
}

/** The destination drained: its source (the peer) may read again. */
function onDrain(this: Socket): void {
  peerOf(this).resume();
}

/** Half-close: this side will send nothing more, so neither will we towards the peer. */
function onEnd(this: Socket): void {
  peerOf(this).end();
}

/** An error or the idle timeout on either socket: both go. */
function onFault(this: Socket): void {
  const l = (this as Linked)[LINK];
  l.failed = true;
  l.a.destroy();
  l.b.destroy();
}

function onClose(this: Socket): void {
  const l = (this as Linked)[LINK];
  // Clean: both directions of this socket completed — the peer's end reached it ('finish', after its buffered
  // writes were flushed) and its own end was read ('end'); autoDestroy then closed it. The partner closes by itself
  // once its own writes are flushed (or its idle timer fires). Anything else is a premature close (reset, destroy,
  // timeout) and takes the partner down at once.
  if (!(this.readableEnded && this.writableFinished)) {
    l.failed = true;
    peerOf(this).destroy();
  }
  if (++l.closed === 2) l.done(l.failed);
}

function attach(s: Socket, l: Link, idleTimeoutMs: number): void {
  (s as Linked)[LINK] = l;
  s.on('error', onFault);
  s.on('end', onEnd);
  s.on('drain', onDrain);
  s.on('close', onClose);
  s.setTimeout(idleTimeoutMs, onFault);
}

/**
 * Joins `a` (the accepted side) and `b` (the connected side). Both must have `allowHalfOpen: true` and be open.
 * The idle timer is each socket's own (`setTimeout`, reset by Node on every read and write).
 */
export function splice(a: Socket, b: Socket, idleTimeoutMs: number, done: SpliceDone): void {
  const l: Link = { a, b, done, closed: 0, failed: false };
  attach(a, l, idleTimeoutMs);
  attach(b, l, idleTimeoutMs);
  // A socket that closed before we got here will not emit 'close' again.
  if (a.closed) onClose.call(a);
  if (b.closed) onClose.call(b);
  // Last: a 'data' listener starts the flow (on the next tick, so both sides are wired before any chunk moves).
  a.on('data', onData);
  b.on('data', onData);
}
