/**
 * The data path of one tunnelled connection: a plaintext TCP socket joined with one HTTP/2 CONNECT stream. The same
 * pump as `transport/splice.ts` (a source pauses when its destination's `write()` returns false and resumes on
 * 'drain'), with the mapping RFC 9113 §8.5 gives a TCP tunnel:
 * - FIN ↔ END_STREAM: the socket's end becomes the stream's end and the other way round; the other direction keeps
 *   flowing (half-close).
 * - TCP reset (or any error, idle timeout or premature close) ↔ RST_STREAM: a fault on the socket resets
 *   the stream, and a stream that closes with any RST or before both of its directions ended resets the socket
 *   (`resetAndDestroy`, a TCP RST to the app), so a broken connection never looks like a clean end on either side.
 *
 * Memory per stream is bounded by the sockets' and the stream's highWaterMark plus the HTTP/2 stream window: Node
 * grants the peer window only as the stream's data is read (`stream.pause()` stops it), so a slow reader stops its
 * own stream and no other.
 */
import { constants as h2, type Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { HIGH_WATER_MARK } from '../transport/options.js';

/** Called once when both sides are closed; `failed` when it ended with a reset, error, timeout or premature close. */
export type StreamSpliceDone = (failed: boolean) => void;

interface StreamLink {
  readonly s: Socket;
  readonly h: Http2Stream;
  readonly done: StreamSpliceDone;
  closed: number;
  failed: boolean;
  /** END_STREAM arrived from the peer sidecar (a real one: Node also marks a destroyed stream's sides ended). */
  peerEnded: boolean;
  /** We sent END_STREAM (the app's FIN). */
  sentEnd: boolean;
}

const LINK = Symbol('ccmesh.stream-splice');

/** Links open now, for {@link streamBufferedBytes}; one Set add and delete per stream. */
const live = new Set<StreamLink>();
type Linked<T> = T & { [LINK]: StreamLink };

const linkOf = (x: Socket | Http2Stream): StreamLink => (x as Linked<typeof x>)[LINK];

function onSocketData(this: Socket, chunk: Buffer): void {
  const h = linkOf(this).h;
  // An Http2Stream's highWaterMark is Node's fixed 16 KiB, which would pause the socket after every read; the bound
  // here is the data path's 64 KiB. Past it write() has returned false, so 'drain' follows.
  h.write(chunk);
  if (h.writableLength >= HIGH_WATER_MARK) this.pause();
}

function onStreamData(this: Http2Stream, chunk: Buffer): void {
  if (!linkOf(this).s.write(chunk)) this.pause();
}

function onSocketDrain(this: Socket): void {
  linkOf(this).h.resume();
}

function onStreamDrain(this: Http2Stream): void {
  linkOf(this).s.resume();
}

/** FIN from the app → END_STREAM towards the peer sidecar. */
function onSocketEnd(this: Socket): void {
  const l = linkOf(this);
  l.sentEnd = true;
  l.h.end();
}

/**
 * END_STREAM from the peer sidecar → FIN to the app. Node also ends the readable side of a stream the peer reset
 * (`aborted`); that is no FIN: the reset follows as 'error'/'close', and a socket that was already shut down could no
 * longer be reset (libuv refuses SO_LINGER after shutdown with EINVAL).
 */
function onStreamEnd(this: Http2Stream): void {
  if (this.aborted || (this.rstCode !== undefined && this.rstCode !== h2.NGHTTP2_NO_ERROR)) return;
  const l = linkOf(this);
  l.peerEnded = true;
  l.s.end();
}

const RESET = new Error('ccmesh: the tunnelled connection was reset');

/** Resets both sides: RST_STREAM to the peer sidecar, a TCP RST to the app. */
function fault(l: StreamLink): void {
  l.failed = true;
  // destroy(err), not close(CONNECT_ERROR): Node's close() first ends the writable side, which puts END_STREAM on the
  // wire ahead of the RST_STREAM, and the peer would forward that as a FIN before it learns of the reset. destroy()
  // sends only RST_STREAM (code INTERNAL_ERROR; the peer treats every non-zero code alike).
  if (!l.h.destroyed) l.h.destroy(RESET);
  if (l.s.destroyed) return;
  // After our FIN (shutdown) a reset is impossible (EINVAL, and Node would then never close the socket): close it.
  if (l.s.writableEnded) l.s.destroy();
  else l.s.resetAndDestroy();
}

function onSocketFault(this: Socket): void {
  fault(linkOf(this));
}

function onStreamError(this: Http2Stream): void {
  fault(linkOf(this));
}

function finish(l: StreamLink): void {
  if (++l.closed === 2) {
    live.delete(l);
    l.done(l.failed);
  }
}

function onSocketClose(this: Socket): void {
  const l = linkOf(this);
  // Clean only when both directions of the socket completed; anything else (a TCP reset from the app, a destroy) is
  // a reset for the stream too.
  if (!(this.readableEnded && this.writableFinished)) fault(l);
  finish(l);
}

function onStreamClose(this: Http2Stream): void {
  const l = linkOf(this);
  // Clean only with NO_ERROR after both directions ended (END_STREAM received, and ours sent; Node's own flags are no
  // proof: a stream destroyed with its session reports both sides ended, and 'close' may precede 'finish'); an RST_STREAM
  // (any code), a GOAWAY that cut the stream, a session that died, or a close while the app still had bytes to send
  // are a reset for the app.
  if (this.rstCode !== h2.NGHTTP2_NO_ERROR || !l.peerEnded || !l.sentEnd) fault(l);
  finish(l);
}

/**
 * Joins `s` (allowHalfOpen) with `h` (an open CONNECT stream, either side; never one already destroyed). The idle timer is the socket's;
 * Node resets it on every read and write of the socket, which every byte of the stream passes through.
 */
export function spliceStream(s: Socket, h: Http2Stream, idleTimeoutMs: number, done: StreamSpliceDone): void {
  const l: StreamLink = { s, h, done, closed: 0, failed: false, peerEnded: false, sentEnd: false };
  live.add(l);
  (s as Linked<Socket>)[LINK] = l;
  (h as Linked<Http2Stream>)[LINK] = l;
  s.on('error', onSocketFault);
  s.on('end', onSocketEnd);
  s.on('drain', onSocketDrain);
  s.on('close', onSocketClose);
  s.setTimeout(idleTimeoutMs, onSocketFault);
  h.on('error', onStreamError);
  h.on('end', onStreamEnd);
  h.on('drain', onStreamDrain);
  h.on('close', onStreamClose);
  // A socket that closed before we got here will not emit 'close' again; the caller hands over only a live stream.
  if (s.closed) onSocketClose.call(s);
  s.on('data', onSocketData);
  h.on('data', onStreamData);
}

/**
 * Bytes the open tunnel streams of this process hold in their user-space buffers now (sockets' and streams' read and
 * write queues); what the slow-reader test bounds, and how many links are open.
 */
export function streamBufferedBytes(): { bytes: number; links: number } {
  let bytes = 0;
  for (const { s, h } of live) bytes += s.readableLength + s.writableLength + h.readableLength + h.writableLength;
  return { bytes, links: live.size };
}
