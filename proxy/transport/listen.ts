/** Binding and closing servers with errors that name the address; shared by inbound, egress and admin. */
import type { AddressInfo, Server } from 'node:net';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** Listens on host:port (0 = any free port); resolves with the bound port. */
export function listenOn(server: Server, host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new CcmeshError(ErrorCode.PROXY_LISTEN_FAILED, `${what}: listening on ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host, port, backlog: 1024 }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting; resolves once the server's own connections are gone (the tracker destroys stragglers). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Shared 'error' listener: a socket error is handled by the connection's pipeline or handshake logic; this one only
 * guarantees that an error emitted after that logic finished can't become an uncaught exception. */
export function ignoreSocketError(): void {
  // Deliberately empty: see above. The failure was already counted where it mattered.
}
