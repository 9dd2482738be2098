import t from 'tap';
import { parseTunnelAuthority, readHttpRequest, readTunnelRequest, tunnelAuthority } from './protocol.js';

void t.test('CONNECT authority: exactly 127.0.0.1:PORT with PORT 1-65535', (t) => {
  const cases: [unknown, number | undefined][] = [
    ['127.0.0.1:8080', 8080], ['127.0.0.1:1', 1], ['127.0.0.1:65535', 65535],
    ['127.0.0.1:65536', undefined], ['127.0.0.1:0', undefined], ['127.0.0.1:08080', undefined], ['127.0.0.1:', undefined],
    ['127.0.0.1:123456', undefined], ['127.0.0.2:8080', undefined], ['localhost:8080', undefined], ['[::1]:8080', undefined],
    ['127.0.0.1:8080\n', undefined], [' 127.0.0.1:8080', undefined], ['127.0.0.1:+80', undefined], ['127.0.0.1:8080/x', undefined],
    [['127.0.0.1:8080'], undefined], [8080, undefined], [undefined, undefined], [null, undefined],
  ];
  for (const [authority, want] of cases) t.equal(parseTunnelAuthority(authority), want, JSON.stringify(authority));
  t.equal(parseTunnelAuthority(tunnelAuthority(443)), 443, 'what the outbound side sends is read back');
  t.end();
});

void t.test('a stream request is a plain CONNECT or refused, and reading it never throws', (t) => {
  const connect = { ':method': 'CONNECT', ':authority': '127.0.0.1:8080' };
  const cases: [string, unknown, number | undefined][] = [
    ['the outbound side\'s request', connect, 8080],
    ['with ordinary headers besides', { ...connect, 'user-agent': 'x', 'x-y': ['a', 'b'] }, 8080],
    ['GET', { ...connect, ':method': 'GET' }, undefined],
    ['lower-case method', { ...connect, ':method': 'connect' }, undefined],
    ['no method', { ':authority': '127.0.0.1:8080' }, undefined],
    ['method as a list', { ...connect, ':method': ['CONNECT'] }, undefined],
    ['no authority', { ':method': 'CONNECT' }, undefined],
    ['another host', { ...connect, ':authority': '10.0.0.1:8080' }, undefined],
    ['with :path (not a plain CONNECT)', { ...connect, ':path': '/' }, undefined],
    ['with :scheme', { ...connect, ':scheme': 'https' }, undefined],
    ['extended CONNECT (:protocol)', { ...connect, ':protocol': 'websocket' }, undefined],
    ['an empty :path still counts', { ...connect, ':path': '' }, undefined],
    ['inherited method only', Object.create(connect) as unknown, undefined],
    ['null', null, undefined],
    ['a string', 'CONNECT 127.0.0.1:8080', undefined],
    ['an array', [':method', 'CONNECT'], undefined],
  ];
  for (const [what, headers, want] of cases) {
    const r = readTunnelRequest(headers);
    t.same(r, want === undefined ? { ok: false } : { ok: true, port: want }, what);
  }
  t.end();
});

void t.test('an L7 request head: a token method (not CONNECT), :scheme http, 127.0.0.1:PORT, an origin-form path; never throws', (t) => {
  const ok = { ':method': 'GET', ':scheme': 'http', ':authority': '127.0.0.1:8080', ':path': '/a?b=c' };
  t.same(readHttpRequest(ok), { ok: true, port: 8080, method: 'GET', path: '/a?b=c' });
  t.same(readHttpRequest({ ...ok, ':method': 'OPTIONS', ':path': '*' }), { ok: true, port: 8080, method: 'OPTIONS', path: '*' });
  const bad: [string, unknown][] = [
    ['CONNECT', { ...ok, ':method': 'CONNECT' }], ['lowercase method', { ...ok, ':method': 'get' }], ['https', { ...ok, ':scheme': 'https' }],
    ['no scheme', { ':method': 'GET', ':authority': '127.0.0.1:8080', ':path': '/' }], ['another host', { ...ok, ':authority': '10.0.0.1:8080' }],
    ['a name', { ...ok, ':authority': 'web:8080' }], ['absolute path', { ...ok, ':path': 'http://x/' }], ['* for GET', { ...ok, ':path': '*' }],
    ['space in path', { ...ok, ':path': '/a b' }], ['control in path', { ...ok, ':path': '/a\u0000' }], ['extended CONNECT', { ...ok, ':protocol': 'websocket' }],
    ['repeated path', { ...ok, ':path': ['/', '/'] }], ['inherited authority', Object.assign(Object.create({ ':authority': '127.0.0.1:8080' }) as object, { ':method': 'GET', ':scheme': 'http', ':path': '/' })],
    ['null', null], ['a string', 'GET /'],
  ];
  for (const [why, h] of bad) t.same(readHttpRequest(h), { ok: false }, why);
  t.end();
});
