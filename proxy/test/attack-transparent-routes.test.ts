/**
 * Attack (capture mode, with or without the tunnel): a mesh peer reaches the pod's own egress listener. An egress
 * listener may listen on 127.0.0.1 (any 127.x.y.z is accepted, `lib/mesh-config/egress.ts`); in capture mode every
 * inbound port that is not an mTLS entry or one of the sidecar's four own ports is forwarded to `127.0.0.1:PORT` for any
 * mesh identity. So a connection to POD_IP:5432 (captured), or a tunnel stream naming 127.0.0.1:5432, is handed to the
 * egress listener, which dials the remote with THIS pod's leaf: the peer speaks to the remote as this pod
 * (`attack-tunnel.test.ts` performs it against real sidecars). This test asserts, on the parsed flags, that the
 * route of such a port is refused; it FAILS while the egress listener's port is routed like any app port.
 */
import t from 'tap';
import { parseProxyFlags } from './support.js';
import { buildTransparentRouters } from '../inbound/transparent.js';

void t.test('capture mode: the pod\'s own egress listener port is never an inbound route', (t) => {
  const cfg = parseProxyFlags(['--ingress', 'web#8080#mtls:allow=api.default.svc', '--egress', 'db#127.0.0.1:5432#db.shop.svc:5432']);
  t.ok(cfg.transparent, 'capture mode');
  const routers = buildTransparentRouters(cfg.transparent!);
  t.match(routers.mtlsByPort(8080), { appPort: 8080, mtls: true, operators: false }, 'the app port is routed (the control)');
  t.equal(routers.mtlsByPort(5432), undefined, 'a tunnel stream to 127.0.0.1:5432 (the egress listener) has no route');
  t.equal(routers.mtls({ localPort: 5432 } as Parameters<typeof routers.mtls>[0]), undefined, 'nor a captured connection to POD_IP:5432');
  t.end();
});
