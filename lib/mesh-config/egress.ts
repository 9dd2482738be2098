/**
 * The sidecar's egress spec (DESIGN §5): `name#<127.x.y.z>:<port>#<host>:<port>` entries joined by `##`. Each entry
 * is a plaintext listener on a loopback address that the app connects to, forwarded over mTLS to the remote.
 */
import { isIP } from 'node:net';
import type { ConfigIssue } from '../errors.js';
import { parsePortText } from './ingress.js';

/** A host and port. `host` is an IP literal (without brackets) or a DNS name. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** One egress entry. */
export interface EgressEntry {
  readonly name: string;
  readonly listen: HostPort;
  readonly remote: HostPort;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Splits `host:port` / `[v6]:port`; undefined when malformed. */
export function parseHostPort(s: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(s);
  if (!m) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase();
  const port = parsePortText(m[3]!);
  if (port === undefined) return undefined;
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && !DNS_RE.test(host)) return undefined;
  return { host, port };
}

/** Parses an egress spec; `field` names the flag or annotation in issues. An empty spec is no entries. */
export function parseEgressSpec(spec: string, field = 'egress'): { entries: EgressEntry[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const entries: EgressEntry[] = [];
  if (spec.trim() === '') return { entries, issues };
  const names = new Set<string>();
  const listens = new Set<string>();
  spec.split('##').forEach((raw, i) => {
    const where = `${field}[${i}]`;
    const parts = raw.split('#');
    if (parts.length !== 3) {
      issues.push({ field: where, value: raw, expected: 'name#127.x.y.z:port#host:port' });
      return;
    }
    const [name = '', listenText = '', remoteText = ''] = parts;
    let ok = true;
    if (!NAME_RE.test(name) || names.has(name)) {
      issues.push({ field: `${where}.name`, value: name, expected: 'a lowercase DNS label not used by another entry' });
      ok = false;
    }
    const listen = parseHostPort(listenText);
    if (!listen || isIP(listen.host) !== 4 || !listen.host.startsWith('127.')) {
      issues.push({ field: `${where}.listen`, value: listenText, expected: 'a loopback address 127.x.y.z:port (the app connects there in plaintext)' });
      ok = false;
    } else if (listens.has(listenText)) {
      issues.push({ field: `${where}.listen`, value: listenText, expected: 'an address not used by another entry' });
      ok = false;
    }
    const remote = parseHostPort(remoteText);
    if (!remote) {
      issues.push({ field: `${where}.remote`, value: remoteText, expected: 'host:port or [ipv6]:port' });
      ok = false;
    }
    if (!ok || !listen || !remote) return;
    names.add(name);
    listens.add(listenText);
    entries.push({ name, listen, remote });
  });
  return { entries, issues };
}
