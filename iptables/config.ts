/**
 * Parses the iptables settings from raw flag values into an {@link IptablesConfig}, reporting every problem at once.
 * Absent flags mean the most restrictive behaviour (docs/design.md §4.3): no plain ports, no exclusions beyond the admin
 * port, no egress capture.
 */
import { isIP } from 'node:net';
import type { FieldReader } from '../lib/config/fields.js';
import { parseIngressSpec, parsePortText } from '../lib/mesh-config/ingress.js';
import { PORTS } from '../lib/mesh-ports.js';
import { PROXY_UID } from '../lib/pod-layout.js';
import { type Cidr, type IptablesConfig, type Ipv6Mode, PLAN_DEFAULTS } from './plan.js';

/** The flag names parseIptablesConfig reads, as a tokeniser spec. */
export const IPTABLES_FLAGS = {
  ingress: { type: 'string' },
  'egress-capture': { type: 'string' },
  'egress-ports': { type: 'string' },
  'admin-port': { type: 'string' },
  'exclude-ports': { type: 'string' },
  ipv6: { type: 'string' },
  'proxy-uid': { type: 'string' },
  'tproxy-mark': { type: 'string' },
  'admitted-mark': { type: 'string' },
  'route-table': { type: 'string' },
} as const;

const IPV6_MODES: readonly Ipv6Mode[] = ['auto', 'on', 'off'];

/** Parses `a.b.c.d/n` or `v6/n` with zero host bits; returns the spelling iptables-save prints. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const addr = m[1]!;
  const bits = Number(m[2]);
  const v = isIP(addr);
  if (v === 4) {
    if (bits > 32) return undefined;
    const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const hostBits = 32 - bits;
    if (hostBits > 0 && n % 2 ** hostBits !== 0) return undefined;
    return { family: 'v4', text: `${addr.split('.').map(Number).join('.')}/${bits}` };
  }
  if (v === 6) {
    if (bits > 128) return undefined;
    // The URL parser compresses and lowercases an IPv6 literal exactly like inet_ntop (RFC 5952).
    const canonical = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
    const value = v6ToBigInt(canonical);
    if (value === undefined) return undefined;
    const hostBits = BigInt(128 - bits);
    if (hostBits > 0n && value % (1n << hostBits) !== 0n) return undefined;
    return { family: 'v6', text: `${canonical}/${bits}` };
  }
  return undefined;
}

function v6ToBigInt(addr: string): bigint | undefined {
  if (addr.includes('.')) return undefined;
  const [head = '', tail] = addr.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function portList(r: FieldReader, field: string): number[] {
  const raw = r.raw(field);
  if (raw === undefined || raw === '') return [];
  const out: number[] = [];
  for (const p of raw.split(',')) {
    const n = parsePortText(p);
    if (n === undefined) r.issue(field, p, 'comma-separated port numbers from 1 to 65535');
    else if (!out.includes(n)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

function mark(r: FieldReader, field: string, fallback: number): number {
  const raw = r.raw(field);
  if (raw === undefined) return fallback;
  const n = /^0x[0-9a-f]{1,8}$/i.test(raw) ? parseInt(raw, 16) : /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
    r.issue(field, raw, 'a non-zero 32-bit mark, e.g. 0x1 (its own bits are its mask)');
    return fallback;
  }
  return n;
}

/** Reads the iptables settings from `r` (flags named as in {@link IPTABLES_FLAGS}); call `r.finish()` afterwards. */
export function parseIptablesConfig(r: FieldReader): IptablesConfig {
  const ingressParsed = parseIngressSpec(r.raw('ingress') ?? '', '--ingress');
  for (const i of ingressParsed.issues) r.issue(i.field.replace(/^--/, ''), i.value, i.expected);
  const adminPort = r.port('admin-port', PORTS.sidecarAdmin) ?? PORTS.sidecarAdmin;
  const excludedPorts = portList(r, 'exclude-ports');
  const ipv6 = r.oneOf('ipv6', IPV6_MODES, 'auto') ?? 'auto';
  const proxyUid = r.integer('proxy-uid', 0, 2 ** 32 - 2, PROXY_UID) ?? PROXY_UID;
  const tproxyMark = mark(r, 'tproxy-mark', PLAN_DEFAULTS.tproxyMark);
  const admittedMark = mark(r, 'admitted-mark', PLAN_DEFAULTS.admittedMark);
  if ((tproxyMark & admittedMark) !== 0) {
    r.issue('admitted-mark', r.raw('admitted-mark') ?? String(admittedMark), `bits that do not overlap --tproxy-mark (0x${tproxyMark.toString(16)})`);
  }
  // 253–255 are the kernel's default, main and local tables; 0 is unspecified.
  const routeTable = r.integer('route-table', 1, 252, PLAN_DEFAULTS.routeTable) ?? PLAN_DEFAULTS.routeTable;

  const meshPorts = new Map<number, string>([
    [PORTS.inboundMtls, 'the inbound mTLS listener'],
    [PORTS.inboundTls, 'the inbound TLS listener'],
    [PORTS.outbound, 'the outbound listener'],
    [adminPort, 'the admin port'],
  ]);
  for (const e of ingressParsed.entries) {
    const clash = meshPorts.get(e.port);
    if (clash) r.issue('ingress', `${e.name}#${e.port}`, `a port other than ${e.port} (${clash})`);
  }

  let egressCapture: IptablesConfig['egressCapture'];
  const egressRaw = r.raw('egress-capture');
  const egressPorts = portList(r, 'egress-ports');
  if (egressRaw !== undefined && egressRaw !== '') {
    const cidrs: Cidr[] = [];
    for (const c of egressRaw.split(',')) {
      const parsed = parseCidr(c);
      if (!parsed) r.issue('egress-capture', c, 'comma-separated CIDR blocks with zero host bits, e.g. 198.18.0.0/15,fd00::/64');
      else if (!cidrs.some((x) => x.text === parsed.text)) cidrs.push(parsed);
    }
    egressCapture = { cidrs, ports: egressPorts };
  } else if (egressPorts.length > 0) {
    r.issue('egress-ports', r.raw('egress-ports'), 'no --egress-ports without --egress-capture');
  }

  return Object.freeze({
    ingress: ingressParsed.entries,
    ...(egressCapture ? { egressCapture } : {}),
    adminPort,
    excludedPorts,
    ipv6,
    proxyUid,
    tproxyMark,
    admittedMark,
    routeTable,
    rulePriority: PLAN_DEFAULTS.rulePriority,
    inboundMtlsPort: PORTS.inboundMtls,
    inboundTlsPort: PORTS.inboundTls,
    outboundPort: PORTS.outbound,
  });
}
