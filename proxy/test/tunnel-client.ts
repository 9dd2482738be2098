/**
 * A raw client of a sidecar's pooled tunnel (used by tests only): the attacker's or a peer's view of ALPN
 * ccmesh-tunnel/1 without a sidecar of its own, and a counter reader for an in-process sidecar.
 */
import { connect as h2Connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { TUNNEL_ALPN } from '../tunnel/protocol.js';
import type { RunningProxy } from '../unit.js';
import type { TestMesh } from './pki.js';

/** A TLS connection to `port` offering only the tunnel ALPN, with `files` as the client's credentials. */
export async function tunnelTls(mesh: TestMesh, port: number, files: { key: string; chain: string }): Promise<TLSSocket> {
  const tls = tlsConnect({ host: '127.0.0.1', port, key: files.key, cert: files.chain, ca: mesh.bundle(), allowPartialTrustChain: true, checkServerIdentity: () => undefined, ALPNProtocols: [TUNNEL_ALPN] });
  tls.on('error', () => undefined);
  await new Promise((r) => tls.once('secureConnect', r));
  return tls;
}

/** An HTTP/2 session over {@link tunnelTls}; throws when the listener did not select the tunnel. */
export async function rawTunnel(mesh: TestMesh, port: number, files: { key: string; chain: string }): Promise<ClientHttp2Session> {
  const tls = await tunnelTls(mesh, port, files);
  if (tls.alpnProtocol !== TUNNEL_ALPN) throw new Error(`the listener did not negotiate the tunnel (ALPN ${String(tls.alpnProtocol)})`);
  const session = h2Connect('http://x', { createConnection: () => tls });
  session.on('error', () => undefined);
  return session;
}

/** A CONNECT stream and its response status (0 when it died first, -1 when no answer came within `timeoutMs`). */
export function connectStream(session: ClientHttp2Session, authority: string, timeoutMs = 10_000): Promise<{ status: number; stream: ClientHttp2Stream }> {
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority });
  stream.on('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: -1, stream }), timeoutMs);
    stream.once('response', (h) => {
      clearTimeout(timer);
      resolve({ status: Number(h[':status']), stream });
    });
    stream.once('close', () => {
      clearTimeout(timer);
      resolve({ status: 0, stream });
    });
  });
}

/** Sum of an in-process sidecar's metric values whose labels include `labels`. */
export async function metricSum(p: RunningProxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = p.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

/**
 * The answer to one hand-made HTTP/2 request on a tunnel session: status 0 when the stream was reset before a head,
 * -1 when no answer came within 10 s (the stream is then closed).
 */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const r = session.request(headers, { endStream: body === undefined });
    const timer = setTimeout(() => {
      resolve({ status: -1, body: '' });
      r.close();
    }, 10_000);
    r.once('close', () => clearTimeout(timer));
    let text = '';
    let status = 0;
    r.setEncoding('utf8');
    r.on('error', () => undefined);
    r.on('response', (h) => (status = Number(h[':status'])));
    r.on('data', (d: string) => (text += d));
    r.on('close', () => resolve({ status, body: text }));
    if (body !== undefined) r.end(body);
  });
}
