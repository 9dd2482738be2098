/**
 * Attacks on the L7 path from a mesh peer that speaks the tunnel itself (a real mTLS connection with ALPN
 * ccmesh-tunnel/1 and a valid mesh leaf, `web`), sending hand-made HTTP/2 requests: the allow-list applies per
 * request on one pooled connection, a request never reaches an L4 port, a host other than 127.0.0.1, or an app with
 * ambiguous framing, and ccmesh-internal fields never reach the app.
 */
import t from 'tap';
import type { OutgoingHttpHeaders } from 'node:http2';
import { metric, startL7Rig } from './l7-rig.js';
import { h2Request, rawTunnel } from './tunnel-client.js';

const send = h2Request;

void t.test('attack: hand-made L7 requests over a pooled connection', async (t) => {
  const rig = await startL7Rig(t);
  const session = await rawTunnel(rig.mesh, rig.in('web'), rig.files.web);
  t.teardown(() => session.destroy());
  const req = (port: number, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({ ':method': 'GET', ':scheme': 'http', ':authority': `127.0.0.1:${port}`, ':path': '/headers', ...extra });
  const ok = await send(session, req(rig.in('web'), { 'ccmesh-identity': 'spiffe://x/admin', 'x-ccmesh-port': '1', host: 'evil.example:22' }));
  t.equal(ok.status, 200, 'a request to the http port the connection was made to is served');
  const seen = JSON.parse(ok.body) as Record<string, string>;
  t.notOk('ccmesh-identity' in seen || 'x-ccmesh-port' in seen, 'ccmesh-internal fields are stripped');
  t.equal(rig.log.requests, 1, 'whatever the Host says, the request went to the route\'s own app on 127.0.0.1');

  t.equal((await send(session, req(rig.in('denied')))).status, 403, 'same pooled connection, a port whose allow-list does not name web: 403');
  t.equal((await send(session, req(rig.in('l4')))).status, 403, 'an L4 port: 403, no parsed request reaches it');
  t.equal((await send(session, req(rig.in('web'), { ':authority': `10.0.0.1:${rig.in('web')}` }))).status, 400, 'another host: 400');
  t.equal((await send(session, req(rig.in('web'), { ':authority': 'evil.example' }))).status, 400, 'a name as authority: 400');
  t.equal((await send(session, req(rig.in('web'), { ':scheme': 'https' }))).status, 400, 'another scheme: 400');
  // nghttp2 resets these itself (PROTOCOL_ERROR) before the sidecar sees a request; the sidecar's own framing check
  // (framingProblem, unit-tested in proxy/http/headers.test.ts) stands behind it.
  t.equal((await send(session, req(rig.in('web'), { ':path': 'http://evil/' }))).status, 0, 'an absolute path: reset');
  t.equal((await send(session, req(rig.in('web'), { ':path': '/a b' }))).status, 0, 'a path with a space: reset');
  t.equal((await send(session, req(rig.in('web'), { ':method': 'POST', 'content-length': 'abc' }), 'hello')).status, 0, 'a malformed Content-Length: reset');
  t.equal((await send(session, req(rig.in('web'), { ':method': 'POST', 'content-length': '5, 6' }), 'hello')).status, 0, 'conflicting Content-Length: reset');
  t.equal(rig.log.requests, 1, 'none of the refused requests reached the app');
  t.equal(rig.l4.connections, 0, 'nor the L4 app');
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'san-not-allowed' }), 1);
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'not-http-port' }), 1);
  t.equal(await metric(rig.ingress, 'ccmesh_proxy_tunnel_stream_refusals_total', { reason: 'bad-request' }), 3);
  t.equal((await send(session, req(rig.in('web')))).status, 200, 'the pooled connection still serves allowed requests');
});
