/** clientAddressFromPeer: grpc-js peer strings → the address that per-client limits key on. */
import t from 'tap';
import { clientAddressFromPeer } from './client-address.js';

const cases: [string, string][] = [
  ['127.0.0.1:50123', '127.0.0.1'],
  ['198.51.100.7:1', '198.51.100.7'],
  ['::1:50123', '::1'],
  ['[::1]:50123', '::1'],
  ['2001:DB8::1:443', '2001:db8::1'],
  ['::ffff:192.0.2.1:8080', '192.0.2.1'],
  ['unknown', 'unknown'],
  ['', 'unknown'],
];
for (const [peer, want] of cases) {
  void t.test(JSON.stringify(peer), (t) => {
    t.equal(clientAddressFromPeer(peer), want);
    t.end();
  });
}
