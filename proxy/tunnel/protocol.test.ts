import t from 'tap';
import { parseTunnelAuthority, readTunnelRequest, tunnelAuthority } from './protocol.js';

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
