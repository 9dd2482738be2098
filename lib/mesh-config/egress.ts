/**
 * The sidecar's egress spec (docs/design.md §5): `name#<127.x.y.z>:<port>#<host>:<port>[#<identity>]` entries joined by `##`.
 * Each entry is a plaintext listener on a loopback address that the app connects to, forwarded over mTLS to the
 * remote, whose leaf must carry the entry's expected identity.
 *
 * The identity (4th field) is a DNS name, a `spiffe://` ID or an IP address the server's leaf must carry as a SAN, or
 * `*` = any mesh identity (an explicit opt-in). Absent, it is the remote's host name — the manifest gives every
 * workload DNS SANs in the spellings of its Services' names — and an IP remote without one is an issue: the host
 * controls DNS and routing, so without a pinned identity any meshed workload could answer as the remote.
 *
 * An optional 5th field `http` (after an explicit identity: `name#127.0.0.1:8080#web:8080#web#http`) makes the entry
 * an L7 listener (docs/proxy.md, "L7 HTTP"): the app's client speaks HTTP/1.1 or h2c there, and each request rides
 * the pooled tunnel as an HTTP/2 request. Without it the entry is L4, as before.
 */
import { isIP } from 'node:net';
import type { ConfigIssue } from '../errors.js';
import { parsePortText } from './ingress.js';

/** A host and port. `host` is an IP literal (without brackets) or a DNS name. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Who an egress entry accepts as its server (on top of the chain to the mesh CA bundle). */
export type EgressIdentity =
  | { readonly kind: 'dns' | 'uri' | 'ip'; readonly value: string }
  | { readonly kind: 'any' };

/** Where an entry's identity came from: its 4th field, a `--egress-san` pin, or the remote's DNS name. */
export type EgressIdentitySource = 'field' | 'pin' | 'remote';

/** One egress entry. */
export interface EgressEntry {
  readonly name: string;
  readonly listen: HostPort;
  readonly remote: HostPort;
  /** The identity the server's leaf must carry; `any` only when asked for with `*`. */
  readonly identity: EgressIdentity;
  readonly identitySource: EgressIdentitySource;
  /** `http`: the app's client speaks HTTP/1.1 or h2c and requests are forwarded one by one; absent = L4. */
  readonly protocol?: 'http';
}

/** "Any mesh identity": the only identity that does not restrict the server beyond the chain. */
export const ANY_MESH_IDENTITY: EgressIdentity = Object.freeze({ kind: 'any' });

/** What an identity may be, for issue messages. */
export const EGRESS_IDENTITY_EXPECTED = 'a DNS name, a spiffe://<trust-domain>/<path> ID or an IP address the server\'s leaf carries, or * (any mesh identity)';

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
// The SPIFFE ID syntax the Coordinator issues (contract/spiffe-id.ts): no percent-encoding, no dot segments.
const SPIFFE_RE = /^spiffe:\/\/[a-z0-9._-]{1,255}(\/[A-Za-z0-9._-]+)+$/;
const MAX_SPIFFE_ID_LENGTH = 2048;

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

/**
 * Parses one expected server identity: `*`, an IP literal, a `spiffe://` ID or a DNS name (lowercased); undefined
 * otherwise. Other URI schemes and wildcard names are refused: a mesh leaf carries DNS and IP names from the manifest
 * and one SPIFFE ID, so anything else could never match and would only hide a typo.
 */
export function parseEgressIdentity(text: string): EgressIdentity | undefined {
  if (text === '*') return ANY_MESH_IDENTITY;
  // A zone id (`fe80::1%eth0`) names a local interface; a certificate's iPAddress never carries one.
  if (isIP(text) !== 0 && !text.includes('%')) return { kind: 'ip', value: text.toLowerCase() };
  if (text.startsWith('spiffe://')) {
    const ok = text.length <= MAX_SPIFFE_ID_LENGTH && SPIFFE_RE.test(text) && text.slice(9).split('/').slice(1).every((s) => s !== '.' && s !== '..');
    return ok ? { kind: 'uri', value: text } : undefined;
  }
  const lower = text.toLowerCase();
  return DNS_RE.test(lower) ? { kind: 'dns', value: lower } : undefined;
}

/** The identity as the spec writes it (4th field / `--egress-san` value). */
export function formatEgressIdentity(id: EgressIdentity): string {
  return id.kind === 'any' ? '*' : id.value;
}

/** The identity as logged: `DNS:x`, `URI:x`, `IP:x` (the SAN kinds of Node's `subjectaltname`) or `*`. */
export function describeEgressIdentity(id: EgressIdentity): string {
  if (id.kind === 'any') return '* (any mesh identity)';
  return `${id.kind === 'ip' ? 'IP' : id.kind.toUpperCase()}:${id.value}`;
}

function sameIdentity(a: EgressIdentity, b: EgressIdentity): boolean {
  return a.kind === b.kind && formatEgressIdentity(a) === formatEgressIdentity(b);
}

/** What {@link parseEgressSpec} needs besides the spec. */
export interface EgressParseOptions {
  /** Identities pinned outside the spec (`--egress-san NAME=SAN`), by entry name; they win over the default. */
  readonly pins?: ReadonlyMap<string, EgressIdentity>;
  /** How a pin is written, for messages (e.g. `--egress-san`); without it, messages only offer the 4th field. */
  readonly pinFlag?: string;
}

/**
 * Parses an egress spec; `field` names the flag or annotation in issues. An empty spec is no entries. Every entry
 * comes out with its identity resolved: the 4th field, else the pin, else the remote's DNS name; a 4th field that
 * differs from the entry's pin, and an IP remote with neither, are issues.
 */
export function parseEgressSpec(spec: string, field = 'egress', opts: EgressParseOptions = {}): { entries: EgressEntry[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const entries: EgressEntry[] = [];
  if (spec.trim() === '') return { entries, issues };
  const names = new Set<string>();
  const listens = new Set<string>();
  spec.split('##').forEach((raw, i) => {
    const where = `${field}[${i}]`;
    const parts = raw.split('#');
    if (parts.length < 3 || parts.length > 5) {
      issues.push({ field: where, value: raw, expected: 'name#127.x.y.z:port#host:port, name#127.x.y.z:port#host:port#identity or name#127.x.y.z:port#host:port#identity#http' });
      return;
    }
    const [name = '', listenText = '', remoteText = '', identityText, protocolText] = parts;
    let ok = true;
    if (protocolText !== undefined && protocolText !== 'http') {
      issues.push({ field: `${where}.protocol`, value: protocolText, expected: 'http (the app speaks HTTP/1.1 or h2c to this listener), or no 5th field for L4' });
      ok = false;
    }
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
    const identity = resolveIdentity({ where, raw, name, remote, identityText, pin: opts.pins?.get(name), pinFlag: opts.pinFlag }, issues);
    if (!ok || !listen || !remote || !identity) return;
    names.add(name);
    listens.add(listenText);
    entries.push({ name, listen, remote, ...identity, ...(protocolText === 'http' ? { protocol: 'http' as const } : {}) });
  });
  return { entries, issues };
}

interface IdentityInput {
  readonly where: string;
  readonly raw: string;
  readonly name: string;
  readonly remote: HostPort | undefined;
  readonly identityText: string | undefined;
  readonly pin: EgressIdentity | undefined;
  readonly pinFlag: string | undefined;
}

function resolveIdentity(x: IdentityInput, issues: ConfigIssue[]): Pick<EgressEntry, 'identity' | 'identitySource'> | undefined {
  if (x.identityText !== undefined) {
    const id = parseEgressIdentity(x.identityText);
    if (!id) {
      issues.push({ field: `${x.where}.identity`, value: x.identityText, expected: EGRESS_IDENTITY_EXPECTED });
      return undefined;
    }
    if (x.pin && !sameIdentity(id, x.pin)) {
      issues.push({
        field: `${x.where}.identity`,
        value: x.identityText,
        expected: `the identity ${x.pinFlag ?? 'the pin'} gives entry "${x.name}" (${formatEgressIdentity(x.pin)}), or no 4th field`,
      });
      return undefined;
    }
    return { identity: id, identitySource: 'field' };
  }
  if (x.pin) return { identity: x.pin, identitySource: 'pin' };
  if (!x.remote) return undefined; // already an issue
  // SECURITY: the default pins the remote's own name. An IP address names no workload (the manifest gives pods DNS
  // SANs only), so an IP remote needs an explicit identity — or an explicit `*`.
  if (isIP(x.remote.host) === 0) return { identity: { kind: 'dns', value: x.remote.host }, identitySource: 'remote' };
  const how = x.pinFlag === undefined ? 'as a 4th field' : `as a 4th field or with ${x.pinFlag} ${x.name}=SAN`;
  issues.push({
    field: x.where,
    value: x.raw,
    expected: `an identity for entry "${x.name}": its remote ${x.remote.host} is an IP address, so no identity can be derived; give one ${how}: ${EGRESS_IDENTITY_EXPECTED}`,
  });
  return undefined;
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/**
 * Renders entries back into the spec grammar with every identity written out as the 4th field, so the text says
 * exactly whom each entry accepts (what `inject` pins in the proxy's args). Parsing the result gives the same entries,
 * with source `field`.
 */
export function renderEgressSpec(entries: readonly EgressEntry[]): string {
  return entries.map((e) => `${e.name}#${formatHostPort(e.listen)}#${formatHostPort(e.remote)}#${formatEgressIdentity(e.identity)}${e.protocol === undefined ? '' : `#${e.protocol}`}`).join('##');
}
