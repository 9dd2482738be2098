/** What a `--listen-host` flag may hold. */
import { isIP } from 'node:net';

/** An IP address literal, or a DNS name that cannot be mistaken for a malformed one (`999.1.1.1` is neither). */
export function isListenHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (/^[\d.]+$/.test(host) || host.includes(':')) return false;
  return host.length <= 253 && /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(host);
}
