/** Free loopback ports for tests, benchmarks and the demo. */
import { createServer, type Server } from 'node:net';

/**
 * Asks the kernel for `n` distinct free ports on 127.0.0.1. The listeners are held open together until every port
 * is known, so the ports are distinct; they are free again (but not reserved) when this resolves.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('unexpected server address');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
