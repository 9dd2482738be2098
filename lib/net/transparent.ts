/**
 * IP_TRANSPARENT on a listening socket, through koffi's setsockopt (Node has no API for it). A TPROXY'd connection is
 * only delivered to a socket with the transparent flag; without it the SYN finds no socket and the client times out.
 * Node binds and listens in one step, so the flag is set on the already-listening fd (`server._handle.fd`): the
 * kernel checks it when each SYN is looked up, and connections accepted afterwards inherit it. Needs CAP_NET_ADMIN
 * (or CAP_NET_RAW). Shared by the proxy and the iptables tests.
 */
import type { Server } from 'node:net';
import { CcmeshError, ErrorCode } from '../errors.js';

// <linux/in.h> and <linux/in6.h>.
const SOL_IP = 0;
const IP_TRANSPARENT = 19;
const SOL_IPV6 = 41;
const IPV6_TRANSPARENT = 75;

interface SetsockoptBinding {
  readonly setsockopt: (fd: number, level: number, name: number, value: Int32Array, len: number) => number;
  readonly errno: () => number;
}

let binding: Promise<SetsockoptBinding> | undefined;

async function load(): Promise<SetsockoptBinding> {
  // koffi is CommonJS: under ESM its exports arrive as the default export.
  const koffi = (await import('koffi')).default;
  const libc = koffi.load(null);
  const fn = libc.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)');
  return { setsockopt: (fd, level, name, value, len) => fn(fd, level, name, value, len) as number, errno: () => koffi.errno() };
}

/** The fd of a listening net.Server; undefined before listen() completed or on platforms without fds. */
export function serverFd(server: Server): number | undefined {
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Sets IP_TRANSPARENT (and IPV6_TRANSPARENT for an IPv6 socket) on a listening server. Throws
 * IPTABLES_UNAVAILABLE when the fd is unknown or the kernel refuses (EPERM without CAP_NET_ADMIN).
 */
export async function setTransparent(server: Server): Promise<void> {
  const fd = serverFd(server);
  if (fd === undefined) throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, 'cannot set IP_TRANSPARENT: the server is not listening on a file descriptor');
  binding ??= load();
  const b = await binding;
  const address = server.address();
  const v6 = typeof address === 'object' && address !== null && address.family === 'IPv6';
  const one = new Int32Array([1]);
  const opts: [number, number, string][] = v6 ? [[SOL_IPV6, IPV6_TRANSPARENT, 'IPV6_TRANSPARENT']] : [[SOL_IP, IP_TRANSPARENT, 'IP_TRANSPARENT']];
  for (const [level, name, label] of opts) {
    // Synchronous on purpose: errno is per thread and must be read right after the call.
    if (b.setsockopt(fd, level, name, one, 4) !== 0) {
      const errno = b.errno();
      throw new CcmeshError(ErrorCode.IPTABLES_UNAVAILABLE, `setsockopt(${label}) on fd ${fd} failed with errno ${errno}${errno === 1 ? ' (EPERM: needs CAP_NET_ADMIN)' : ''}`);
    }
  }
}
