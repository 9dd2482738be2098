import t from 'tap';
import { endToEnd, endToEndTrailers, framingProblem, statusClass } from './headers.js';

void t.test('framingProblem: ambiguous framing is named, plain framing passes', (t) => {
  const table: [Record<string, string>, string | undefined][] = [
    [{}, undefined],
    [{ 'content-length': '0' }, undefined],
    [{ 'content-length': '42' }, undefined],
    [{ 'content-length': '42, 42' }, undefined],
    [{ 'transfer-encoding': 'chunked' }, undefined],
    [{ 'content-length': '5', 'transfer-encoding': 'chunked' }, 'both Content-Length and Transfer-Encoding'],
    [{ 'content-length': '5, 6' }, 'a malformed Content-Length'],
    [{ 'content-length': '-1' }, 'a malformed Content-Length'],
    [{ 'content-length': 'abc' }, 'a malformed Content-Length'],
    [{ 'content-length': '' }, 'a malformed Content-Length'],
    [{ 'content-length': '1e3' }, 'a malformed Content-Length'],
    [{ 'content-length': '9'.repeat(16) }, 'a malformed Content-Length'],
  ];
  for (const [h, want] of table) t.equal(framingProblem(h), want, JSON.stringify(h));
  t.end();
});

void t.test('endToEnd: hop-by-hop, Connection-named, proxy-*, internal fields and pseudo-headers go; TE: trailers stays', (t) => {
  const out = endToEnd({
    ':path': '/', connection: 'keep-alive, X-Named', 'x-named': '1', 'keep-alive': 't=5', 'proxy-authorization': 'a', 'proxy-connection': 'x', 'transfer-encoding': 'chunked',
    upgrade: 'websocket', 'http2-settings': 'x', host: 'h', expect: '100-continue', 'ccmesh-port': '1', 'x-ccmesh-peer': 'p', te: 'trailers, deflate', 'content-type': 'application/grpc', 'x-kept': 'yes',
  });
  t.same(out, { 'content-type': 'application/grpc', 'x-kept': 'yes', te: 'trailers' });
  t.same(endToEnd({ te: 'gzip' }), {}, 'TE without trailers goes');
  t.same(endToEndTrailers({ 'grpc-status': '0', 'content-length': '3', te: 'trailers', connection: 'x' }), { 'grpc-status': '0' });
  t.same([100, 204, 302, 404, 503].map(statusClass), ['1xx', '2xx', '3xx', '4xx', '5xx']);
  t.end();
});
