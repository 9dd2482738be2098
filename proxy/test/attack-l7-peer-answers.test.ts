/**
 * Attacks on the egress side of the L7 path by the server: a mesh peer with its own genuine leaf (`api`, the
 * identity the egress entry expects) that speaks the tunnel by hand and answers an L7 request with a head node:http2
 * passes on but neither HTTP/1.1 nor HTTP/2 may send on: `:status` 000, 099 (nghttp2 takes any three digits but 101)
 * or 700 (HTTP/2 answers stop at 599). The client's sidecar must answer its app 502 and keep serving; it must never
 * throw out of the stream's 'response' listener (an uncaught exception ends the process: every connection of the
 * client pod would go with it).
 */
import t from 'tap';
import { request as h1Request } from 'node:http';
import { connect as h2Connect, constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { rmSync } from 'node:fs';
import { systemClock } from '../../lib/clock.js';
import { PROXY_DEFAULTS } from '../config.js';
import { TUNNEL_ALPN } from '../tunnel/protocol.js';
import { startProxy } from '../unit.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { testConfig, testLogger } from './support.js';

const frame = (type: number, flags: number, id: number, payload: Buffer): Buffer => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
};

/**
 * A hand-made tunnel server: answers every request stream with HEADERS `:status <status>` (HPACK literal, indexed
 * name :status) and END_STREAM. It reads frames only as far as needed to find the streams' ids.
 */
function answerWith(tls: TLSSocket, nextStatus: () => string): void {
  tls.write(frame(4, 0, 0, Buffer.alloc(0)));
  let buf = Buffer.alloc(0);
  let prefaceSeen = false;
  tls.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!prefaceSeen) {
      if (buf.length < 24) return;
      buf = buf.subarray(24);
      prefaceSeen = true;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) return;
      const type = buf[3]!;
      const flags = buf[4]!;
      const id = buf.readUInt32BE(5) & 0x7fffffff;
      buf = buf.subarray(9 + len);
      if (type === 4 && (flags & 1) === 0) tls.write(frame(4, 1, 0, Buffer.alloc(0)));
      if (type === 1) {
        const status = Buffer.from(nextStatus());
        tls.write(frame(1, 5, id, Buffer.concat([Buffer.from([0x08, status.length]), status])));
      }
    }
  });
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = h1Request({ host: '127.0.0.1', port, path: '/x', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

void t.test('attack: a peer answering an L7 request with a status HTTP cannot send does not crash the client sidecar', async (t) => {
  const mesh = await TestMesh.create();
  const api = await mesh.leaf(['api']);
  const web = await mesh.leaf(['web']);
  const dir = writeTlsDir(web.files);
  // The heads to answer, in order, across the pooled connections (a refused head may cost the connection).
  const statuses = ['000', '099', '700', '200'];
  const server = createTlsServer({ key: api.files.key, cert: api.files.chain, ca: mesh.bundle(), requestCert: true, rejectUnauthorized: false, ALPNProtocols: [TUNNEL_ALPN] }, (tls) => {
    tls.on('error', () => undefined);
    answerWith(tls, () => statuses.shift() ?? '200');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const errors: string[] = [];
  const onError = (err: Error & { code?: string }): void => {
    errors.push(err.code ?? err.message);
  };
  // Caught here so that the test reports it (without it, the process — the sidecar in production — dies).
  process.on('uncaughtException', onError);
  const egress = await startProxy(testConfig({
    tlsDir: dir,
    tunnel: { ...PROXY_DEFAULTS.tunnel, enabled: true },
    egress: [{ name: 'api', listen: { host: '127.0.0.1', port: 0 }, remote: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, identity: { kind: 'dns', value: 'api' }, identitySource: 'field', protocol: 'http' }],
  }), { clock: systemClock, logger: testLogger });
  t.teardown(async () => {
    process.off('uncaughtException', onError);
    await egress.drain();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const port = egress.ports.get('api')!;
  t.equal(await get(port), 502, 'HTTP/1.1 client, :status 000: 502');
  t.equal(await get(port), 502, 'HTTP/1.1 client, :status 099: 502');
  t.equal(await get(port), 502, 'HTTP/1.1 client, :status 700 (fine for HTTP/1.1, but not an HTTP/2 status): 502');
  t.equal(await get(port), 200, 'the next answer is relayed: the sidecar still serves');
  // The app speaks h2c: the relay to it must refuse the same heads.
  statuses.push('000', '700', '200');
  const session = h2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const h2get = (): Promise<number> => new Promise((resolve) => {
    const r = session.request({ ':path': '/x' });
    let status = 0;
    r.on('response', (h) => (status = Number(h[':status'])));
    r.on('error', () => undefined);
    r.resume();
    r.on('close', () => resolve(r.rstCode === h2.NGHTTP2_NO_ERROR ? status : -r.rstCode));
  });
  t.equal(await h2get(), 502, 'h2c client, :status 000: 502');
  t.equal(await h2get(), 502, 'h2c client, :status 700: 502');
  t.equal(await h2get(), 200, 'the next answer is relayed');
  t.same(errors, [], 'nothing thrown out of a listener');
  t.same(statuses, [], 'every head was asked for');
});
