/**
 * `ccmesh proxy` flags → a frozen {@link ProxyConfig}, every problem reported at once. Security-relevant settings
 * come from args only (the Kata policy pins args exactly; env vars can be missing), and absent args mean the most
 * restrictive behaviour: no `--ingress` means every mapped port requires mTLS.
 */
import { isIP } from 'node:net';
import type { FlagSpec } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { ISSUER_KINDS, type IssuerKind } from '../attestation/issuers/kinds.js';
import type { LogLevel } from '../lib/log.js';
import { EGRESS_IDENTITY_EXPECTED, parseEgressIdentity, parseEgressSpec, parseHostPort, type EgressEntry, type EgressIdentity, type HostPort } from '../lib/mesh-config/egress.js';
import { APP_PROBE_EXPECTED, parseAppProbe, type AppProbe } from '../lib/mesh-config/app-probe.js';
import { parseIngressSpec, parsePortText, type IngressEntry, type IngressMode } from '../lib/mesh-config/ingress.js';
import { PORTS } from '../lib/mesh-ports.js';
import { PATHS } from '../lib/pod-layout.js';
import { MAX_STREAMS_LIMIT } from './tunnel/protocol.js';

/** Flags of `ccmesh proxy`. */
export const PROXY_FLAGS = {
  ingress: { type: 'string' },
  egress: { type: 'string' },
  'egress-san': { type: 'string', multiple: true },
  'inbound-port-map': { type: 'string' },
  'listen-host': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'app-probe': { type: 'string', multiple: true },
  'tls-dir': { type: 'string' },
  coordinator: { type: 'string' },
  'trust-refresh': { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'host-data': { type: 'string' },
  'no-iptables': { type: 'boolean' },
  // Capture settings, read by the iptables stages the CLI builds (parseIptablesConfig); refused with --no-iptables.
  'egress-capture': { type: 'string' },
  'egress-ports': { type: 'string' },
  'exclude-ports': { type: 'string' },
  ipv6: { type: 'string' },
  'watchdog-interval': { type: 'string' },
  workers: { type: 'string' },
  'idle-timeout': { type: 'string' },
  'handshake-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-handshakes': { type: 'string' },
  'max-unauthenticated-per-source': { type: 'string' },
  drain: { type: 'string' },
  tunnel: { type: 'string' },
  'tunnel-pool': { type: 'string' },
  'tunnel-streams': { type: 'string' },
  'tunnel-drain': { type: 'string' },
  'ready-file': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies FlagSpec;

/** One explicit inbound TLS listener (`--no-iptables`): LISTEN_PORT → 127.0.0.1:APP_PORT under `mode`. */
export interface InboundListenerConfig {
  readonly name: string;
  readonly appPort: number;
  readonly listenPort: number;
  readonly mode: Exclude<IngressMode, { kind: 'plain' }>;
}

/** The transparent inbound listeners (capture mode): where TPROXY delivers, and the routes by original port. */
export interface TransparentInboundConfig {
  /** The mTLS listener every captured port goes to (PORTS.inboundMtls). */
  readonly mtlsPort: number;
  /** The TLS-only listener of `tls` entries (PORTS.inboundTls). */
  readonly tlsPort: number;
  /** Every ingress entry, looked up by the connection's original destination port. */
  readonly entries: readonly IngressEntry[];
  /** Original destination ports never forwarded to the app: the sidecar's own listeners and admin port. */
  readonly ownPorts: readonly number[];
}

/** The transparent outbound listener (`--egress-capture`): where TPROXY delivers the app's captured connections. */
export interface TransparentOutboundConfig {
  /** PORTS.outbound (15001). */
  readonly port: number;
  /** Original destination ports never dialled: the sidecar's own listeners and admin port (a loop otherwise). */
  readonly ownPorts: readonly number[];
  /** `--egress-ports` (empty = every port is captured): route ports for the metrics' `port` label. */
  readonly capturedPorts: readonly number[];
}

/** Flags that only mean something with transparent capture. */
export const CAPTURE_ONLY_FLAGS = ['egress-capture', 'egress-ports', 'exclude-ports', 'ipv6', 'watchdog-interval'] as const;

/**
 * One egress listener: an egress entry with its expected server identity resolved (4th field, `--egress-san`, or the
 * remote's DNS name; `any` only for an explicit `*`).
 */
export type EgressListenerConfig = EgressEntry;

/**
 * The evidence issuer for renewals the Coordinator refuses without fresh evidence (`--tee`, `--sim-dir`,
 * `--host-data`: the initializer's flags, same meaning). The CLI builds the issuer from it.
 */
export interface RenewalTeeConfig {
  readonly kind: IssuerKind;
  /** The simulated platform directory; only with kind `simulated`. */
  readonly simDir: string | undefined;
  /** HOST_DATA of simulated evidence (32 bytes); only with kind `simulated`. */
  readonly hostData: Uint8Array | undefined;
}

/** `--tunnel`, `--tunnel-pool`, `--tunnel-streams`, `--tunnel-drain`. */
export interface TunnelConfig {
  readonly enabled: boolean;
  /** Pooled connections per destination (egress entry, or original destination of a captured connection). */
  readonly poolSize: number;
  /** Concurrent streams per pooled connection (advertised as SETTINGS_MAX_CONCURRENT_STREAMS, and used as such). */
  readonly maxStreams: number;
  /** How long a pooled connection made with replaced credentials may finish its streams before they are cut. */
  readonly drainMs: number;
}

/** Parsed proxy configuration. */
export interface ProxyConfig {
  readonly inbound: readonly InboundListenerConfig[];
  readonly egress: readonly EgressListenerConfig[];
  /** Address the explicit inbound listeners bind (`--no-iptables`). */
  readonly listenHost: string;
  readonly adminHost: string;
  readonly adminPort: number;
  /** App probes served on the admin port (`--app-probe`, pinned by the injector from the pod's kubelet probes). */
  readonly appProbes: readonly AppProbe[];
  readonly tlsDir: string;
  readonly coordinator: HostPort | undefined;
  /** How often the Coordinator's mesh CA bundle is polled (0 = never); only with `coordinator`. */
  readonly trustRefreshMs: number;
  /** Attest for a renewal that needs fresh evidence; only with `coordinator`. Absent: such a renewal fails and the leaf expires. */
  readonly renewalTee?: RenewalTeeConfig | undefined;
  /** False = transparent capture (iptables stages required); true = explicit listeners only. */
  readonly noIptables: boolean;
  /** The transparent listeners; undefined with `--no-iptables`. */
  readonly transparent: TransparentInboundConfig | undefined;
  /** The transparent outbound listener; only with `--egress-capture` (and never with `--no-iptables`). */
  readonly transparentOutbound: TransparentOutboundConfig | undefined;
  readonly workers: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Established connections at once, per listener. */
  readonly maxConnections: number;
  /** Inbound connections in the TLS handshake at once, over all inbound listeners. */
  readonly maxHandshakes: number;
  /** Connections without a verified mesh identity (handshaking, or on a `tls` port) per source address. */
  readonly maxUnauthenticatedPerSource: number;
  readonly drainMs: number;
  /** The pooled, multiplexed transport between sidecars (`proxy/tunnel/`); off = per-connection mTLS only. */
  readonly tunnel: TunnelConfig;
  /** Where readiness is announced as a file; undefined = no file. */
  readonly readyFile: string | undefined;
  readonly logLevel: LogLevel;
}

/** Defaults shared by the CLI and tests. */
export const PROXY_DEFAULTS = Object.freeze({
  idleTimeoutMs: 60 * 60 * 1000,
  // A handshake between sidecars takes milliseconds; 5 s leaves room for a loaded peer while bounding how long
  // an unauthenticated client can hold a slot of --max-handshakes.
  handshakeTimeoutMs: 5_000,
  maxConnections: 16_384,
  // ~25 KB per pending handshake: 1 024 bound handshake state at ~25 MB; one source address holds at most 64
  // connections without a mesh identity (handshaking, or established on a tls port).
  maxHandshakes: 1_024,
  maxUnauthenticatedPerSource: 64,
  drainMs: 20_000,
  trustRefreshMs: 30_000,
  // On by default; `--tunnel off` is per-connection mTLS only (docs/proxy.md, "Pooled tunnel between sidecars").
  tunnel: Object.freeze({ enabled: true, poolSize: 2, maxStreams: 128, drainMs: 5 * 60_000 }),
});

/** Upper bound of `--workers`. */
export const MAX_WORKERS = 64;

/** Usage text of `ccmesh proxy`. */
export const PROXY_USAGE = `Usage:
  ccmesh proxy --ingress SPEC --egress SPEC [--admin-port ${PORTS.sidecarAdmin}] [--tls-dir ${PATHS.tlsDir}]
               [--coordinator HOST:PORT] [--no-iptables --inbound-port-map APP_PORT=LISTEN_PORT,…] [--workers 1]
               [--ipv6 auto|on|off] [--exclude-ports P,…] [--watchdog-interval 10s]

The sidecar data plane: inbound mTLS → app, app → egress listener → mTLS, /live /ready /metrics on --admin-port.
  --ingress SPEC             name#port#mode entries joined by ## (mode: mtls, mtls:allow=<san>,…, tls, plain;
                             mtls+http / mtls+h2c[:allow=…] = an L7 port); ports not listed require mTLS
  --egress SPEC              name#127.x.y.z:port#host:port[#identity[#http]] entries joined by ##; the server's leaf
                             must carry the identity (DNS name, spiffe:// ID, IP, or * = any mesh leaf); default:
                             the remote's DNS name (an IP remote needs one); #http = L7 (with --tunnel on)
  --egress-san NAME=SAN      the identity of egress entry NAME, instead of a 4th field (repeatable)
  --no-iptables              no transparent capture: explicit TLS listeners from --inbound-port-map
  --ipv6 auto|on|off         capture IPv6 too: auto = whenever the kernel has IPv6 (default), on = required,
                             off = IPv6 not captured and kept closed by the guard
  --exclude-ports P,…        ports never captured besides --admin-port and plain entries (kubelet probes)
  --egress-capture CIDRS     transparent outbound capture of the app's TCP to CIDRS → 15001 → mTLS to the same
                             address and port (needs uid 1337); --egress-ports P,… narrows it to those ports
  --watchdog-interval 10s    how often the rules are re-verified (drift → guard re-installed, /ready 503)
  --inbound-port-map MAP     APP_PORT=LISTEN_PORT,… (each listener forwards to 127.0.0.1:APP_PORT)
  --listen-host HOST         address of the explicit inbound listeners (default 0.0.0.0)
  --admin-host HOST          address of the admin server (default 0.0.0.0)
  --app-probe JSON           serve /app-health/<container>/<kind> on the admin port: a GET (or TCP connect) to
                             the app on 127.0.0.1 answered 200/503 only (repeatable; the injector writes these)
  --coordinator HOST:PORT    renew the leaf at ~50 % of its life through the Coordinator's mesh API
  --trust-refresh 30s        with --coordinator: poll the mesh CA bundle; a new CA (manifest update) is trusted at
                             once and the leaf renewed 2 intervals later, so no restart is needed (0 = off)
  --tee auto|configfs|sev-guest|simulated [--sim-dir DIR [--host-data HEX32]]
                             with --coordinator: attest when the Coordinator requires fresh evidence to renew (an
                             update changed the reference values); same meaning as the initializer's flags. Without
                             it such a renewal fails, the leaf expires and the restarted pod attests again
  --idle-timeout 1h  --handshake-timeout 5s  --max-connections ${PROXY_DEFAULTS.maxConnections}  --drain 20s
  --max-handshakes ${PROXY_DEFAULTS.maxHandshakes}      inbound connections in the TLS handshake at once (unauthenticated work)
  --max-unauthenticated-per-source ${PROXY_DEFAULTS.maxUnauthenticatedPerSource}  connections without a mesh identity (in the handshake, or on a
                             tls port) from one source address
  --tunnel on|off            carry each connection to another ccmesh sidecar as one HTTP/2 CONNECT stream over a
                             pool of long-lived mTLS connections (ALPN ccmesh-tunnel/1; default on); a peer without
                             it gets per-connection mTLS
  --tunnel-pool ${PROXY_DEFAULTS.tunnel.poolSize}  --tunnel-streams ${PROXY_DEFAULTS.tunnel.maxStreams}  --tunnel-drain 5m
                             pooled connections per destination, streams per connection, and how long a pooled
                             connection made with replaced credentials may finish its streams
  --ready-file PATH|none     written once ready (default ${PATHS.readyFile})
  --workers N                N listener processes (node:cluster; default 1)
  --log-level info
`;

/** Reads the proxy flags (issues are collected; the caller calls finish()). `lists` holds repeatable flags. */
export function readProxyConfig(r: FieldReader, lists: Readonly<Record<string, readonly string[]>> = {}): ProxyConfig {
  const ingress = parseIngressSpec(r.raw('ingress') ?? '', '--ingress');
  const pins = readEgressPins(lists['egress-san'] ?? []);
  const egress = parseEgressSpec(r.raw('egress') ?? '', '--egress', { pins: pins.byName, pinFlag: '--egress-san' });
  for (const i of [...ingress.issues, ...egress.issues]) r.issue(i.field.replace(/^--/, ''), i.value, i.expected);
  const noIptables = r.raw('no-iptables') === 'true';
  if (noIptables) {
    for (const f of CAPTURE_ONLY_FLAGS) if (r.raw(f) !== undefined) r.issue(f, r.raw(f), 'not together with --no-iptables (it configures transparent capture)');
  }

  const inbound: InboundListenerConfig[] = [];
  const mapRaw = r.raw('inbound-port-map');
  if (mapRaw !== undefined && !noIptables) r.issue('inbound-port-map', mapRaw, 'only together with --no-iptables (captured traffic needs no explicit listeners)');
  if (noIptables && mapRaw !== undefined) {
    const listenSeen = new Set<number>();
    const appSeen = new Set<number>();
    for (const pair of mapRaw.split(',')) {
      const m = /^(\d+)=(\d+)$/.exec(pair);
      const app = m ? parsePortText(m[1]!) : undefined;
      const listen = m ? parsePortText(m[2]!) : undefined;
      if (app === undefined || listen === undefined) {
        r.issue('inbound-port-map', pair, 'APP_PORT=LISTEN_PORT with ports 1-65535');
        continue;
      }
      if (listenSeen.has(listen) || appSeen.has(app)) {
        r.issue('inbound-port-map', pair, 'each app port and each listen port at most once');
        continue;
      }
      listenSeen.add(listen);
      appSeen.add(app);
      const entry = ingress.entries.find((e) => e.port === app);
      // SECURITY: a port missing from --ingress gets the restrictive default, mTLS without an allow-list restriction.
      const mode = entry?.mode ?? { kind: 'mtls' as const, allow: [] };
      if (mode.kind === 'plain') {
        r.issue('inbound-port-map', pair, `no plain port: ingress entry "${entry?.name ?? ''}" is plain, which is not served by the sidecar`);
        continue;
      }
      inbound.push({ name: entry?.name ?? `port-${app}`, appPort: app, listenPort: listen, mode });
    }
  }
  if (noIptables) {
    for (const e of ingress.entries) {
      if (e.mode.kind !== 'plain' && !inbound.some((l) => l.appPort === e.port)) {
        r.issue('inbound-port-map', mapRaw, `a listen port for ingress entry "${e.name}" (app port ${e.port}) with --no-iptables`);
      }
    }
  }

  for (const i of pins.issues) r.issue('egress-san', i.value, i.expected);
  const egressNames = new Set((r.raw('egress') ?? '').split('##').map((e) => e.split('#')[0]));
  for (const [name, item] of pins.items) {
    if (!egressNames.has(name)) r.issue('egress-san', item, 'NAME=SAN naming an --egress entry, once per entry');
  }

  const coordinatorRaw = r.raw('coordinator');
  const coordinator = coordinatorRaw === undefined ? undefined : parseHostPort(coordinatorRaw);
  if (coordinatorRaw !== undefined && !coordinator) r.issue('coordinator', coordinatorRaw, 'HOST:PORT or [IPv6]:PORT');
  const trustRefreshMs = r.duration('trust-refresh', PROXY_DEFAULTS.trustRefreshMs) ?? PROXY_DEFAULTS.trustRefreshMs;
  if (r.raw('trust-refresh') !== undefined && coordinatorRaw === undefined) r.issue('trust-refresh', r.raw('trust-refresh'), 'only together with --coordinator (the bundle comes from its mesh API)');
  if (trustRefreshMs !== 0 && trustRefreshMs < 500) r.issue('trust-refresh', r.raw('trust-refresh'), '0 (off) or at least 500ms');
  const renewalTee = readRenewalTee(r, coordinatorRaw !== undefined);
  const host = (field: string, fallback: string): string => {
    const v = r.raw(field) ?? fallback;
    if (isIP(v) === 0 && v !== 'localhost') r.issue(field, v, 'an IPv4 or IPv6 address');
    return v;
  };
  const workers = r.integer('workers', 1, MAX_WORKERS, 1);
  const readyRaw = r.raw('ready-file') ?? PATHS.readyFile;
  const adminPort = r.port('admin-port', PORTS.sidecarAdmin) ?? PORTS.sidecarAdmin;
  // SECURITY: an egress listener on 127.0.0.1 is the sidecar's own too. Routed like an app port, a mesh peer's captured
  // connection to POD_IP:PORT (or a tunnel stream to 127.0.0.1:PORT) would reach it, and it dials the remote with this
  // pod's leaf: the peer would speak as this pod.
  const ownPorts = Object.freeze([...new Set([PORTS.inboundMtls, PORTS.inboundTls, PORTS.outbound, adminPort, ...egressLoopbackPorts(egress.entries)])]);
  const transparent: TransparentInboundConfig | undefined = noIptables ? undefined : Object.freeze({
    mtlsPort: PORTS.inboundMtls,
    tlsPort: PORTS.inboundTls,
    entries: Object.freeze([...ingress.entries]),
    ownPorts,
  });
  const transparentOutbound: TransparentOutboundConfig | undefined = noIptables || r.raw('egress-capture') === undefined
    ? undefined
    // --egress-ports is checked (and a bad one reported) by the capture settings' parser; only valid ports are kept here.
    : Object.freeze({ port: PORTS.outbound, ownPorts, capturedPorts: Object.freeze((r.raw('egress-ports') ?? '').split(',').map(parsePortText).filter((p) => p !== undefined)) });
  return Object.freeze({
    inbound: Object.freeze(inbound),
    egress: Object.freeze(egress.entries.map((e) => Object.freeze({ ...e }))),
    listenHost: host('listen-host', '0.0.0.0'),
    adminHost: host('admin-host', '0.0.0.0'),
    adminPort,
    appProbes: readAppProbes(r, lists['app-probe'] ?? [], ownPorts),
    tlsDir: r.raw('tls-dir') ?? PATHS.tlsDir,
    coordinator,
    trustRefreshMs,
    ...(renewalTee ? { renewalTee } : {}),
    noIptables,
    transparent,
    transparentOutbound,
    workers: workers ?? 1,
    idleTimeoutMs: positive(r, 'idle-timeout', PROXY_DEFAULTS.idleTimeoutMs),
    handshakeTimeoutMs: positive(r, 'handshake-timeout', PROXY_DEFAULTS.handshakeTimeoutMs),
    maxConnections: r.integer('max-connections', 1, 1_000_000, PROXY_DEFAULTS.maxConnections) ?? PROXY_DEFAULTS.maxConnections,
    ...handshakeLimits(r),
    drainMs: r.duration('drain', PROXY_DEFAULTS.drainMs) ?? PROXY_DEFAULTS.drainMs,
    tunnel: readTunnel(r),
    readyFile: readyRaw === 'none' ? undefined : readyRaw,
    logLevel: r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info') ?? 'info',
  });
}

/**
 * `--egress-san NAME=SAN` values (repeatable, or comma-separated) → identities by entry name. Whether NAME is an
 * `--egress` entry is checked by the caller, against the spec.
 */
function readEgressPins(values: readonly string[]): { byName: Map<string, EgressIdentity>; items: Map<string, string>; issues: { value: string; expected: string }[] } {
  const byName = new Map<string, EgressIdentity>();
  const items = new Map<string, string>();
  const issues: { value: string; expected: string }[] = [];
  for (const item of values.flatMap((s) => s.split(','))) {
    const m = /^([a-z0-9-]+)=(.+)$/.exec(item);
    if (!m || items.has(m[1]!)) {
      issues.push({ value: item, expected: 'NAME=SAN naming an --egress entry, once per entry' });
      continue;
    }
    const id = parseEgressIdentity(m[2]!);
    if (!id) {
      issues.push({ value: item, expected: `NAME=SAN where SAN is ${EGRESS_IDENTITY_EXPECTED}` });
      continue;
    }
    byName.set(m[1]!, id);
    items.set(m[1]!, item);
  }
  return { byName, items, issues };
}

/**
 * `--app-probe` values: each a pinned probe (lib/mesh-config/app-probe.ts), one per container and kind.
 * SECURITY: a probe never targets one of the sidecar's own ports (its listeners, admin port or a loopback egress
 * listener, which would dial a remote as this pod); the host can trigger a probe at will.
 */
function readAppProbes(r: FieldReader, values: readonly string[], ownPorts: readonly number[]): AppProbe[] {
  const out: AppProbe[] = [];
  for (const text of values) {
    const p = parseAppProbe(text);
    if (p === undefined) r.issue('app-probe', text, APP_PROBE_EXPECTED);
    else if (ownPorts.includes(p.check.port)) r.issue('app-probe', text, `a port other than ${p.check.port} (one of the sidecar's own: ${ownPorts.join(', ')})`);
    else if (out.some((o) => o.container === p.container && o.kind === p.kind)) r.issue('app-probe', text, `one probe per container and kind (${p.container}/${p.kind} twice)`);
    else out.push(Object.freeze(p));
  }
  return out;
}

/** `--tee`, `--sim-dir`, `--host-data` (checked like the initializer's; only with --coordinator). */
function readRenewalTee(r: FieldReader, withCoordinator: boolean): RenewalTeeConfig | undefined {
  const teeRaw = r.raw('tee');
  const simDir = r.raw('sim-dir');
  const hostDataRaw = r.raw('host-data');
  if (teeRaw === undefined) {
    if (simDir !== undefined) r.issue('sim-dir', simDir, 'only together with --tee simulated');
    if (hostDataRaw !== undefined) r.issue('host-data', hostDataRaw, 'only together with --tee simulated');
    return undefined;
  }
  if (!withCoordinator) r.issue('tee', teeRaw, 'only together with --coordinator (evidence is for renewals through its mesh API)');
  const kind = r.oneOf('tee', ISSUER_KINDS, 'auto') ?? 'auto';
  if (kind === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  if (kind !== 'simulated' && simDir !== undefined) r.issue('sim-dir', simDir, 'only together with --tee simulated');
  let hostData: Uint8Array | undefined;
  if (hostDataRaw !== undefined) {
    if (kind !== 'simulated') r.issue('host-data', hostDataRaw, 'no --host-data unless --tee simulated (real hardware sets it at launch)');
    else if (!/^[0-9a-fA-F]{64}$/.test(hostDataRaw)) r.issue('host-data', hostDataRaw, '64 hex digits (32 bytes)');
    else hostData = new Uint8Array(Buffer.from(hostDataRaw, 'hex'));
  }
  return Object.freeze({ kind, simDir, hostData });
}

/**
 * The ports of egress listeners on 127.0.0.1, where the transparent inbound side forwards: never an inbound route
 * (`ownPorts`). `portOf` gives the bound port where the configured one is 0.
 */
export function egressLoopbackPorts(entries: readonly EgressEntry[], portOf: (e: EgressEntry) => number = (e) => e.listen.port): number[] {
  return entries.filter((e) => e.listen.host === '127.0.0.1' || e.listen.host === 'localhost').map(portOf);
}

function readTunnel(r: FieldReader): TunnelConfig {
  const d = PROXY_DEFAULTS.tunnel;
  const choice = r.oneOf('tunnel', ['on', 'off'] as const, d.enabled ? 'on' : 'off'); // undefined: a bad value, reported
  const enabled = choice === 'on';
  const poolSize = r.integer('tunnel-pool', 1, 64, d.poolSize) ?? d.poolSize;
  const maxStreams = r.integer('tunnel-streams', 1, MAX_STREAMS_LIMIT, d.maxStreams) ?? d.maxStreams;
  const drainMs = positive(r, 'tunnel-drain', d.drainMs);
  if (choice === 'off') {
    for (const f of ['tunnel-pool', 'tunnel-streams', 'tunnel-drain']) if (r.raw(f) !== undefined) r.issue(f, r.raw(f), 'only with --tunnel on (the pooled tunnel is off)');
  }
  return Object.freeze({ enabled, poolSize, maxStreams, drainMs });
}

function handshakeLimits(r: FieldReader): { maxHandshakes: number; maxUnauthenticatedPerSource: number } {
  const maxHandshakes = r.integer('max-handshakes', 1, 1_000_000, PROXY_DEFAULTS.maxHandshakes) ?? PROXY_DEFAULTS.maxHandshakes;
  const maxUnauthenticatedPerSource = r.integer('max-unauthenticated-per-source', 1, 1_000_000, PROXY_DEFAULTS.maxUnauthenticatedPerSource) ?? PROXY_DEFAULTS.maxUnauthenticatedPerSource;
  return { maxHandshakes, maxUnauthenticatedPerSource };
}

function positive(r: FieldReader, field: string, fallback: number): number {
  const v = r.duration(field, fallback);
  if (v === 0) r.issue(field, r.raw(field), 'a duration above zero');
  return v ?? fallback;
}
