/**
 * The address a call came from, as the key for per-client limits. The Coordinator authenticates no client at the
 * TLS layer, so the source address is the identity there is; the port is dropped (a client opens as many
 * connections as it likes) and an IPv4-mapped IPv6 address counts as the IPv4 address it maps.
 */
import type { ServerUnaryCall } from '@grpc/grpc-js';

/** The source address of `call` ("198.51.100.7", "2001:db8::1"), or "unknown". */
export function clientAddressOf(call: Pick<ServerUnaryCall<unknown, unknown>, 'getPeer'>): string {
  return clientAddressFromPeer(call.getPeer());
}

/** grpc-js peer text ("1.2.3.4:5678", "::1:5678", "[::1]:5678", "unknown") → the address alone. */
export function clientAddressFromPeer(peer: string): string {
  const m = /^\[?(.*?)\]?:(\d{1,5})$/.exec(peer);
  const address = (m ? m[1]! : peer).toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  return mapped ? mapped[1]! : address || 'unknown';
}
