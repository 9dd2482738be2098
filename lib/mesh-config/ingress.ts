/**
 * The sidecar's ingress spec (docs/design.md §5): `name#port#mode` entries joined by `##`, parsed once into types with every
 * problem reported. Modes: `mtls` (the default; `mtls:allow=<san>,<san>` restricts peer identities), `tls`
 * (server-auth only) and `plain` (not redirected). Contrast's "disable TLS" flag is accepted too: `false` = mtls,
 * `true` = plain. Ports not listed still require mTLS — the restrictive default. `mtls+operator` (optionally
 * `mtls+operator:allow=…`) also admits operator certificates (`ccmesh port-forward`, contract/operator-identity.ts);
 * every other port refuses them.
 *
 * An mTLS mode may name the app's protocol with a `+http` or `+h2c` suffix after `mtls` / `mtls+operator` and before
 * any `:allow=` (`web#8080#mtls+http`, `grpc#9000#mtls+h2c:allow=api`): the port is then an L7 port (docs/proxy.md,
 * "L7 HTTP"): requests arrive over the pooled tunnel as HTTP/2 requests and are sent to the app as HTTP/1.1 (`http`)
 * or as HTTP/2 with prior knowledge (`h2c`, what gRPC servers speak). Without a suffix a port is L4, as before.
 */
import type { ConfigIssue } from '../errors.js';

/** What the app on an L7 port speaks: HTTP/1.1, or HTTP/2 with prior knowledge (gRPC). */
export type AppProtocol = 'http' | 'h2c';

/** How inbound connections to one port are handled. */
export type IngressMode =
  | {
    readonly kind: 'mtls'; readonly allow: readonly string[]; /** Operator certificates admitted too (`mtls+operator`); absent = refused. */ readonly operators?: true;
    /** The app's protocol on an L7 port (`+http`, `+h2c`); absent = L4 (bytes pass through unparsed). */ readonly protocol?: AppProtocol;
  }
  | { readonly kind: 'tls' }
  | { readonly kind: 'plain' };

/** One ingress entry. */
export interface IngressEntry {
  readonly name: string;
  readonly port: number;
  readonly mode: IngressMode;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SAN_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$|^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+$|^[0-9a-f:.]+$/;

/** Parses a port 1–65535 written in decimal without sign or leading zeros. */
export function parsePortText(s: string): number | undefined {
  if (!/^[1-9]\d{0,4}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** Parses an ingress spec; `field` names the flag or annotation in issues. An empty spec is no entries. */
export function parseIngressSpec(spec: string, field = 'ingress'): { entries: IngressEntry[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const entries: IngressEntry[] = [];
  if (spec.trim() === '') return { entries, issues };
  const names = new Set<string>();
  const ports = new Set<number>();
  spec.split('##').forEach((raw, i) => {
    const where = `${field}[${i}]`;
    const parts = raw.split('#');
    if (parts.length < 2 || parts.length > 3) {
      issues.push({ field: where, value: raw, expected: 'name#port or name#port#mode (mode: mtls, mtls:allow=<san>,…, mtls+operator[:allow=…], tls, plain, true, false)' });
      return;
    }
    const [name = '', portText = '', modeText = ''] = parts;
    let ok = true;
    if (!NAME_RE.test(name)) {
      issues.push({ field: `${where}.name`, value: name, expected: 'a lowercase DNS label (a-z, 0-9, -; at most 63 characters)' });
      ok = false;
    } else if (names.has(name)) {
      issues.push({ field: `${where}.name`, value: name, expected: 'a name not used by another entry' });
      ok = false;
    }
    const port = parsePortText(portText);
    if (port === undefined) {
      issues.push({ field: `${where}.port`, value: portText, expected: 'a port number from 1 to 65535' });
      ok = false;
    } else if (ports.has(port)) {
      issues.push({ field: `${where}.port`, value: portText, expected: 'a port not listed by another entry' });
      ok = false;
    }
    const mode = parseMode(modeText, `${where}.mode`, issues);
    if (!ok || !mode || port === undefined) return;
    names.add(name);
    ports.add(port);
    entries.push({ name, port, mode });
  });
  return { entries, issues };
}

const MODE_EXPECTED = 'one of mtls, mtls:allow=<san>,…, mtls+operator, mtls+operator:allow=<san>,…, tls, plain (or Contrast\'s true = plain, false = mtls); mtls modes may add +http or +h2c before :allow';

const PROTOCOL_RE = /^(mtls(?:\+operator)?)\+(http|h2c)(:allow=.*)?$/;

function parseMode(text: string, field: string, issues: ConfigIssue[]): IngressMode | undefined {
  const proto = PROTOCOL_RE.exec(text);
  if (proto) {
    const probe: ConfigIssue[] = [];
    const inner = parseMode(`${proto[1]!}${proto[3] ?? ''}`, field, probe);
    if (inner?.kind !== 'mtls' || probe.length > 0) {
      issues.push({ field, value: text, expected: `${proto[1]!}+${proto[2]!}:allow= followed by distinct DNS names, wildcard DNS names, IPs or spiffe:// IDs, comma-separated` });
      return undefined;
    }
    return { ...inner, protocol: proto[2] as AppProtocol };
  }
  const OPERATOR = 'mtls+operator';
  if (text === OPERATOR || text.startsWith(`${OPERATOR}:allow=`)) {
    const probe: ConfigIssue[] = [];
    const inner = parseMode(`mtls${text.slice(OPERATOR.length)}`, field, probe);
    if (inner?.kind !== 'mtls' || probe.length > 0) {
      issues.push({ field, value: text, expected: 'mtls+operator:allow= followed by distinct DNS names, wildcard DNS names, IPs or spiffe:// IDs, comma-separated' });
      return undefined;
    }
    return { kind: 'mtls', allow: inner.allow, operators: true };
  }
  if (text === '' || text === 'mtls' || text === 'false') return { kind: 'mtls', allow: [] };
  if (text === 'tls') return { kind: 'tls' };
  if (text === 'plain' || text === 'true') return { kind: 'plain' };
  const m = /^mtls:allow=(.+)$/.exec(text);
  if (m) {
    const sans = m[1]!.split(',');
    const bad = sans.filter((s) => !SAN_RE.test(s));
    if (bad.length > 0 || new Set(sans).size !== sans.length) {
      issues.push({ field, value: text, expected: 'mtls:allow= followed by distinct DNS names, wildcard DNS names, IPs or spiffe:// IDs, comma-separated' });
      return undefined;
    }
    return { kind: 'mtls', allow: sans };
  }
  issues.push({ field, value: text, expected: MODE_EXPECTED });
  return undefined;
}
