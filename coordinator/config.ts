/** `ccmesh coordinator` flags → a frozen CoordinatorConfig, every problem reported at once. */
import { MAX_OPERATOR_CERT_LIFETIME_MS } from '../contract/operator-identity.js';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { type FlagSpec } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { type LogLevel } from '../lib/log.js';
import { PORTS } from '../lib/mesh-ports.js';
import { isListenHost } from '../lib/net/listen-host.js';
import { COORDINATOR_STORE_DIR } from '../lib/pod-layout.js';

/** Largest etcd CA / certificate / key file read (the CLI's input cap). */
const MAX_PEM_BYTES = 8 * 1024 * 1024;

/** Flags of `ccmesh coordinator`. */
export const COORDINATOR_FLAGS = {
  store: { type: 'string' },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  peers: { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'listen-host': { type: 'string' },
  'user-port': { type: 'string' },
  'mesh-port': { type: 'string' },
  'metrics-port': { type: 'string' },
  'log-level': { type: 'string' },
  'tdx-collateral': { type: 'string' },
  'collateral-cache': { type: 'string' },
  'fetch-collateral': { type: 'boolean' },
  'operator-cert-lifetime': { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies FlagSpec;

/**
 * Where TDX collateral comes from: none (TDX evidence then passes only manifest alternatives with
 * `allowUnevaluatedTcb`), a directory of files the operator keeps current, or the collateral disk cache —
 * cache-only, or filled from Intel PCS when fetching is turned on.
 */
export type TdxCollateralConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'dir'; readonly dir: string }
  | { readonly kind: 'cache'; readonly dir: string; readonly fetch: boolean };

/**
 * The etcd cluster of `--store etcd:…`: endpoints as `scheme://host:port` (one scheme for all), and the client TLS
 * material (PEM, read and checked at parse time) for https.
 */
export interface EtcdStoreConfig {
  readonly kind: 'etcd';
  readonly endpoints: readonly string[];
  /** http:// endpoints: no TLS at all (development and tests only; the command warns). */
  readonly plaintext: boolean;
  readonly tls: { readonly ca?: Uint8Array; readonly cert?: Uint8Array; readonly key?: Uint8Array };
}

/** Parsed Coordinator configuration. */
export interface CoordinatorConfig {
  readonly store: { readonly kind: 'file'; readonly dir: string } | { readonly kind: 'memory' } | EtcdStoreConfig;
  readonly tee: 'auto' | 'simulated';
  readonly simDir: string | undefined;
  readonly listenHost: string;
  readonly userPort: number;
  readonly meshPort: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
  readonly tdxCollateral: TdxCollateralConfig;
  /** Peer replicas' mesh API for automatic recovery, `host:port` each (a DNS name may resolve to several); [] = none. */
  readonly peers: readonly string[];
  /** Lifetime of operator certificates (IssueOperatorCert, `ccmesh port-forward`): 1 min to 1 h, default 1 h. */
  readonly operatorCertLifetimeMs: number;
}

/** Usage text of `ccmesh coordinator`. */
export const COORDINATOR_USAGE = `Usage:
  ccmesh coordinator [--store file:DIR|etcd:https://HOST:PORT[,HOST:PORT…]|memory] [--etcd-ca PEM]
                     [--etcd-cert PEM --etcd-key PEM] [--peers HOST:PORT,…] [--tee auto|simulated --sim-dir DIR] [--listen-host HOST]
                     [--user-port ${PORTS.coordinatorUser}] [--mesh-port ${PORTS.coordinatorMesh}] [--metrics-port ${PORTS.coordinatorMetrics}] [--log-level info]

Runs the Coordinator: the user API (manifests, recovery) on --user-port, the mesh API (pod certificates) on
--mesh-port, probes (/probe/startup, /probe/liveness, /probe/readiness) and /metrics on --metrics-port.
  --store file:DIR   embedded file store (default file:${COORDINATOR_STORE_DIR}); "memory" loses state on exit
  --store etcd:https://h1:2379,h2:2379  an etcd cluster (keys under /ccmesh/coordinator/), shared by every
                     Coordinator replica; etcd:http://… has no TLS (development and tests only)
  --etcd-ca FILE     CA certificate(s) for the etcd servers (default: the system roots)
  --etcd-cert FILE, --etcd-key FILE  client certificate and key for etcd (both or neither)
  --peers HOST:PORT[,HOST:PORT…]  the other replicas' mesh API (a DNS name may resolve to several addresses, e.g.
                     the StatefulSet's headless Service): in recovery, this Coordinator attests to a ready peer and
                     receives the seed from it by itself (only with --store etcd:…)
  --tee simulated    attest with the simulated platform in --sim-dir (development only)
  --tdx-collateral DIR  TDX collateral files (TCB info, QE identity, PCK and root CRLs, TCB signing certificate),
                     recognised by content and re-read every 5 minutes; pods' TDX TCB status is then evaluated
  --collateral-cache DIR  the collateral disk cache instead (cache-only: filled earlier or by another process)
  --fetch-collateral    with --collateral-cache: fetch missing or stale TDX collateral from Intel PCS (network)
  Without collateral, TDX evidence passes only manifest alternatives with "allowUnevaluatedTcb": true.
  --operator-cert-lifetime 1h  lifetime of the operator certificates that workload owners obtain for
                     "ccmesh port-forward" (1m to 1h)
`;

/** Reads the Coordinator flags from a reader (issues are collected; the caller calls finish()). */
export function readCoordinatorConfig(r: FieldReader): CoordinatorConfig {
  const storeRaw = r.raw('store') ?? `file:${COORDINATOR_STORE_DIR}`;
  let store: CoordinatorConfig['store'] = { kind: 'memory' };
  if (storeRaw.startsWith('file:') && storeRaw.length > 5) store = { kind: 'file', dir: storeRaw.slice(5) };
  else if (storeRaw.startsWith('etcd:')) store = readEtcdStore(r, storeRaw) ?? store;
  else if (storeRaw !== 'memory') r.issue('store', storeRaw, 'file:DIR, etcd:https://HOST:PORT[,HOST:PORT…] or memory');
  if (store.kind !== 'etcd') {
    for (const flag of ETCD_TLS_FLAGS) if (r.raw(flag) !== undefined) r.issue(flag, r.raw(flag), 'only with --store etcd:https://…');
  }
  const tee = r.oneOf('tee', ['auto', 'simulated'] as const, 'auto');
  const simDir = r.raw('sim-dir');
  if (tee === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  if (tee === 'auto' && simDir !== undefined) r.issue('sim-dir', simDir, 'no --sim-dir unless --tee simulated');
  const ports = { user: r.port('user-port', PORTS.coordinatorUser), mesh: r.port('mesh-port', PORTS.coordinatorMesh), metrics: r.port('metrics-port', PORTS.coordinatorMetrics) };
  for (const [a, b] of [['user', 'mesh'], ['user', 'metrics'], ['mesh', 'metrics']] as const) {
    if (ports[a] !== undefined && ports[a] === ports[b]) r.issue(`${b}-port`, String(ports[b]), `a port other than --${a}-port's (each listener needs its own)`);
  }
  const listenHost = r.raw('listen-host') ?? '0.0.0.0';
  if (!isListenHost(listenHost)) r.issue('listen-host', listenHost, 'an IPv4 or IPv6 address of this host (0.0.0.0 or :: for all), or a DNS name');
  const logLevel = r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info');
  const tdxCollateral = readTdxCollateral(r);
  const peers = readPeers(r, store.kind === 'etcd');
  const operatorCertLifetimeMs = r.duration('operator-cert-lifetime', MAX_OPERATOR_CERT_LIFETIME_MS);
  if (operatorCertLifetimeMs !== undefined && (operatorCertLifetimeMs < 60_000 || operatorCertLifetimeMs > MAX_OPERATOR_CERT_LIFETIME_MS)) {
    r.issue('operator-cert-lifetime', r.raw('operator-cert-lifetime'), 'a duration from 1m to 1h (operator certificates live at most one hour)');
  }
  return Object.freeze({
    operatorCertLifetimeMs: operatorCertLifetimeMs ?? MAX_OPERATOR_CERT_LIFETIME_MS,
    peers,
    store,
    tee: tee ?? 'auto',
    simDir,
    listenHost,
    userPort: ports.user ?? PORTS.coordinatorUser,
    meshPort: ports.mesh ?? PORTS.coordinatorMesh,
    metricsPort: ports.metrics ?? PORTS.coordinatorMetrics,
    logLevel: logLevel ?? 'info',
    tdxCollateral,
  });
}

function readTdxCollateral(r: FieldReader): TdxCollateralConfig {
  const dir = r.raw('tdx-collateral');
  const cache = r.raw('collateral-cache');
  const fetch = r.raw('fetch-collateral') === 'true';
  if (dir !== undefined && cache !== undefined) r.issue('collateral-cache', cache, 'either --tdx-collateral or --collateral-cache, not both');
  if (fetch && cache === undefined) r.issue('fetch-collateral', 'true', 'only with --collateral-cache DIR (fetched collateral is always cached)');
  if (dir !== undefined) return { kind: 'dir', dir };
  if (cache !== undefined) return { kind: 'cache', dir: cache, fetch };
  return { kind: 'none' };
}

const PEER_EXPECTED = 'HOST:PORT[,HOST:PORT…] (a DNS name, an IPv4 address or a bracketed IPv6 address, and the mesh API port)';

/** `--peers`: host:port entries (no scheme), each checked; only with an etcd store (replicas share one). */
function readPeers(r: FieldReader, etcd: boolean): readonly string[] {
  const raw = r.raw('peers');
  if (raw === undefined) return Object.freeze([]);
  if (!etcd) {
    r.issue('peers', raw, 'only with --store etcd:… (replicas recover from each other only when they share one store)');
    return Object.freeze([]);
  }
  const peers: string[] = [];
  for (const part of raw.split(',')) {
    const m = ENDPOINT_RE.exec(part);
    const port = m ? Number(m[3]) : 0;
    if (!m || m[1] !== undefined || port < 1 || port > 65535) {
      r.issue('peers', raw, `${PEER_EXPECTED}; ${JSON.stringify(part)} is not`);
      return Object.freeze([]);
    }
    peers.push(`${m[2]!}:${port}`);
  }
  return Object.freeze(peers);
}

const ETCD_TLS_FLAGS = ['etcd-ca', 'etcd-cert', 'etcd-key'] as const;
const ETCD_EXPECTED = 'etcd:http(s)://HOST:PORT[,HOST:PORT…] (one scheme for every endpoint, a port on each, nothing after it)';
// A DNS name or IPv4 address, or an IPv6 address in brackets; then the port.
const ENDPOINT_RE = /^(?:(https?):\/\/)?((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;

/** `etcd:…` and the --etcd-* files; undefined (with issues) when unusable. */
function readEtcdStore(r: FieldReader, raw: string): EtcdStoreConfig | undefined {
  const parts = raw.slice('etcd:'.length).split(',');
  let scheme: string | undefined;
  const endpoints: string[] = [];
  for (const [i, part] of parts.entries()) {
    const m = ENDPOINT_RE.exec(part);
    const port = m ? Number(m[3]) : 0;
    const partScheme = m?.[1] ?? (i === 0 ? undefined : scheme);
    if (!m || port < 1 || port > 65535 || partScheme === undefined || (scheme !== undefined && partScheme !== scheme)) {
      r.issue('store', raw, ETCD_EXPECTED);
      return undefined;
    }
    scheme = partScheme;
    endpoints.push(`${scheme}://${m[2]!}:${port}`);
  }
  const plaintext = scheme === 'http';
  const files = Object.fromEntries(ETCD_TLS_FLAGS.map((f) => [f, r.raw(f)])) as Record<(typeof ETCD_TLS_FLAGS)[number], string | undefined>;
  if (plaintext) {
    for (const flag of ETCD_TLS_FLAGS) if (files[flag] !== undefined) r.issue(flag, files[flag], 'only with https:// etcd endpoints (this --store uses http://)');
    return { kind: 'etcd', endpoints, plaintext, tls: {} };
  }
  if ((files['etcd-cert'] === undefined) !== (files['etcd-key'] === undefined)) {
    const missing = files['etcd-cert'] === undefined ? 'etcd-cert' : 'etcd-key';
    r.issue(missing, undefined, `--etcd-cert and --etcd-key together (the client certificate and its key)`);
  }
  const ca = files['etcd-ca'] === undefined ? undefined : readPem(r, 'etcd-ca', files['etcd-ca'], 'certificates');
  const cert = files['etcd-cert'] === undefined ? undefined : readPem(r, 'etcd-cert', files['etcd-cert'], 'certificates');
  const key = files['etcd-key'] === undefined ? undefined : readPem(r, 'etcd-key', files['etcd-key'], 'key');
  if (cert?.certs[0] && key?.key && !cert.certs[0].checkPrivateKey(key.key)) {
    r.issue('etcd-key', files['etcd-key'], `the private key of the --etcd-cert certificate (this key belongs to another)`);
  }
  return { kind: 'etcd', endpoints, plaintext, tls: { ...(ca ? { ca: ca.bytes } : {}), ...(cert ? { cert: cert.bytes } : {}), ...(key ? { key: key.bytes } : {}) } };
}

/** Reads a PEM file for `flag`: every certificate in it must parse, or it must hold one private key. */
function readPem(r: FieldReader, flag: string, path: string, want: 'certificates' | 'key'): { bytes: Uint8Array; certs: X509Certificate[]; key?: KeyObject } | undefined {
  let bytes: Buffer;
  try {
    // SECURITY: bounded like every user-named input (a PEM bundle is kilobytes; /dev/zero must not be read forever).
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes`);
    bytes = readFileSync(path);
    if (bytes.length > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes`);
  } catch (err) {
    r.issue(flag, path, `a readable PEM file (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
  try {
    if (want === 'key') return { bytes: new Uint8Array(bytes), certs: [], key: createPrivateKey({ key: bytes, format: 'pem' }) };
    const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new Error('no "BEGIN CERTIFICATE" block');
    return { bytes: new Uint8Array(bytes), certs: blocks.map((b) => new X509Certificate(b)) };
  } catch (err) {
    r.issue(flag, path, `a PEM file with ${want === 'key' ? 'a private key' : 'one or more certificates'} (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
}

