/** IP_TRANSPARENT through koffi: set on a listening IPv4 and IPv6 socket (root), refused cleanly otherwise. */
import { createServer, type Server } from 'node:net';
import t from 'tap';
import { serverFd, setTransparent } from './transparent.js';

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => resolve(s));
  });
}

const root = process.getuid?.() === 0;

void t.test('a server that is not listening has no fd', async (t) => {
  const s = createServer();
  t.equal(serverFd(s), undefined);
  await t.rejects(setTransparent(s), { code: 'CCMESH_ERR_IPTABLES_UNAVAILABLE' });
});

for (const host of ['127.0.0.1', '::1']) {
  void t.test(`setsockopt on a listening ${host} socket`, { skip: root ? false : 'needs CAP_NET_ADMIN (root)' }, async (t) => {
    const s = await listen(host);
    t.teardown(() => s.close());
    t.type(serverFd(s), 'number');
    await setTransparent(s);
    t.pass('accepted by the kernel');
  });
}
