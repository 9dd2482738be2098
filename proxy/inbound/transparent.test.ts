import t from 'tap';
import type { Socket } from 'node:net';
import { buildTransparentRouters } from './transparent.js';

void t.test('transparent routes by original destination port', (t) => {
  const { mtls, tls, mtlsByPort } = buildTransparentRouters({
    mtlsPort: 15006,
    tlsPort: 15007,
    ownPorts: [15006, 15007, 15001, 15020],
    entries: [
      { name: 'web', port: 8080, mode: { kind: 'mtls', allow: ['api.default.svc'] } },
      { name: 'fwd', port: 8081, mode: { kind: 'mtls', allow: [], operators: true } },
      { name: 'pub', port: 8443, mode: { kind: 'tls' } },
      { name: 'metrics', port: 9100, mode: { kind: 'plain' } },
    ],
  });
  const at = (localPort: number | undefined): Socket => ({ localPort }) as Socket;
  t.match(mtls(at(8080)), { appPort: 8080, mtls: true, allow: { dns: new Set(['api.default.svc']) } }, 'mtls entry keeps its allow-list');
  t.same(mtls(at(7000)), { appPort: 7000, mtls: true, allow: undefined, operators: false }, 'unlisted: mTLS, any mesh identity');
  t.same(mtls(at(8443)), { appPort: 8443, mtls: true, allow: undefined, operators: false }, 'a tls port on the mTLS listener is held to mTLS');
  t.same(mtls(at(9100)), { appPort: 9100, mtls: true, allow: undefined, operators: false }, 'so is a plain port that got captured');
  t.match(mtls(at(8080)), { operators: false }, 'an mtls entry refuses operators by default');
  t.match(mtls(at(8081)), { appPort: 8081, operators: true }, 'mtls+operator admits them');
  for (const own of [15007, 15001, 15020]) t.equal(mtls(at(own)), undefined, `own port ${own} is never forwarded`);
  const forward = mtls(at(15006));
  t.ok(forward?.forward, 'a connection to 15006 itself is the port-forward path, routed by its TLS server name');
  t.match(forward?.forward?.(8081), { appPort: 8081, operators: true }, 'which names a port and gets that port\'s route');
  t.equal(forward?.forward?.(15006), undefined, 'never the listener itself');
  t.equal(forward?.forward?.(15020), undefined, 'nor another own port');
  t.equal(mtlsByPort(15006), undefined, 'tunnel streams never reach the own port either');
  t.equal(mtls(at(undefined)), undefined, 'unknown original port refused');
  t.same(tls(at(8443)), { appPort: 8443, mtls: false, allow: undefined, operators: false }, 'tls entry on the TLS-only listener');
  for (const p of [8080, 7000, 9100, 15006]) t.equal(tls(at(p)), undefined, `port ${p} refused on the TLS-only listener (would skip client auth)`);
  t.end();
});
