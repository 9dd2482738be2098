/**
 * Memory per open connection (issue 6): N plaintext connections through an implementation's egress listener, each
 * carried over its own mTLS connection to the ingress sidecar and on to the app. Each connection completes one
 * keep-alive request first, so every leg (app → egress, egress → ingress TLS, ingress → app server) is established
 * and past its handshake; then all of them sit idle while the sidecars' RSS is read from /proc.
 */
import { connect, type Socket } from 'node:net';

const REQUEST = 'GET /1k HTTP/1.1\r\nHost: bench\r\n\r\n';
const HEADER_END = '\r\n\r\n';

/** Opens one connection to 127.0.0.1:port and resolves once a full response to one request arrived. */
function openOne(port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let text = '';
    const fail = (err: Error): void => {
      s.destroy();
      reject(err);
    };
    s.setTimeout(timeoutMs, () => fail(new Error('timeout')));
    s.once('error', fail);
    s.once('close', () => reject(new Error('closed before the response')));
    s.once('connect', () => s.write(REQUEST));
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      const end = text.indexOf(HEADER_END);
      if (end < 0) return;
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
      if (!len || text.length - end - HEADER_END.length < Number(len[1])) return;
      s.off('data', onData);
      s.setTimeout(0);
      s.removeAllListeners('close');
      s.off('error', fail);
      // Late errors on a held socket are counted at close, not thrown.
      s.on('error', () => undefined);
      resolve(s);
    };
    s.on('data', onData);
  });
}

/** Connections held open; `close()` destroys them all. */
export interface HeldConnections {
  readonly opened: number;
  readonly failed: number;
  /** First failure reason, if any. */
  readonly firstError?: string;
  close(): Promise<void>;
}

/** Opens `count` connections, `concurrency` at a time, and keeps the ones that completed their request. */
export async function holdConnections(port: number, count: number, concurrency = 50, timeoutMs = 10_000): Promise<HeldConnections> {
  const held: Socket[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        held.push(await openOne(port, timeoutMs));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return {
    opened: held.length,
    failed,
    ...(firstError !== undefined ? { firstError } : {}),
    close: async () => {
      await Promise.all(held.map((s) => new Promise<void>((resolve) => {
        if (s.closed) return resolve();
        s.once('close', () => resolve());
        s.destroy();
      })));
    },
  };
}
