import t from 'tap';
import { originalDestination, unmapAddress } from './transparent.js';

void t.test('original destination of a captured outbound connection', (t) => {
  const own = new Set([15006, 15007, 15001, 15020]);
  t.equal(unmapAddress('::ffff:198.18.0.1'), '198.18.0.1', 'v4-mapped on the dual-stack socket');
  t.equal(unmapAddress('fd00::1'), 'fd00::1');
  t.same(originalDestination({ localAddress: '::ffff:10.1.2.3', localPort: 8080 }, own), { host: '10.1.2.3', port: 8080 });
  t.same(originalDestination({ localAddress: 'fd00:198:18::1', localPort: 443 }, own), { host: 'fd00:198:18::1', port: 443 });
  t.equal(originalDestination({ localAddress: '::ffff:127.0.0.1', localPort: 15001 }, own), undefined, 'a direct local connection to 15001 is never dialled');
  t.equal(originalDestination({ localAddress: '::1', localPort: 8080 }, own), undefined, 'loopback is never dialled');
  t.equal(originalDestination({ localAddress: '10.1.2.3', localPort: 15006 }, own), undefined, 'the mesh ports are never dialled');
  t.equal(originalDestination({ localAddress: undefined, localPort: undefined }, own), undefined);
  t.end();
});
