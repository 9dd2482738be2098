/**
 * App probes the sidecar answers on its admin port for kubelet (docs/kubernetes.md, "Probes"): a kubelet httpGet or
 * tcpSocket probe on a port the sidecar captures can't reach the app (kubelet probes in plaintext from the node), so
 * the injector points it at `/app-health/<container>/<kind>` on the admin port and pins the original check in the
 * sidecar's args (`--app-probe`, one JSON object each). The sidecar runs that check against the app on loopback.
 *
 * SECURITY: what the sidecar dials comes only from these pinned args (the Kata policy pins them); nothing of the
 * kubelet's request — path, query, headers — is used. The JSON is parsed strictly (known keys only, every value
 * checked), and rendered in one fixed key order, so the injected args are byte-stable.
 */
import { parsePortText } from './ingress.js';

/** The kubelet probe kinds, as `kubectl describe` names them. */
export const APP_PROBE_KINDS = ['startup', 'liveness', 'readiness'] as const;
/** One kubelet probe kind. */
export type AppProbeKind = (typeof APP_PROBE_KINDS)[number];

/** Prefix of the admin paths of app probes. */
export const APP_HEALTH_PREFIX = '/app-health/';

/** One HTTP header kubelet would send (`httpGet.httpHeaders`). */
export interface AppProbeHeader {
  readonly name: string;
  readonly value: string;
}

/** What the sidecar checks: a GET on 127.0.0.1:port, or a TCP connect to it. */
export type AppProbeCheck =
  | { readonly type: 'http'; readonly port: number; readonly path: string; readonly scheme: 'HTTP' | 'HTTPS'; readonly headers: readonly AppProbeHeader[] }
  | { readonly type: 'tcp'; readonly port: number };

/** One pinned app probe. */
export interface AppProbe {
  /** The container whose probe this is (a DNS label: container names are). */
  readonly container: string;
  readonly kind: AppProbeKind;
  readonly check: AppProbeCheck;
  /** The probe's `timeoutSeconds`: how long the sidecar waits for the app. */
  readonly timeoutSeconds: number;
}

/** Most headers one probe may carry. */
export const MAX_APP_PROBE_HEADERS = 16;
/** Longest timeout kubelet's probes get here (seconds); longer ones make no sense for a health check. */
export const MAX_APP_PROBE_TIMEOUT_SECONDS = 60;

const CONTAINER_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// A request target kubelet would send: absolute path, visible ASCII only (no space, no control characters), so the
// pinned path can never split the request line.
const PATH_RE = /^\/[\x21-\x7e]{0,2047}$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
// Visible ASCII and inner spaces/tabs only: no CR, LF or NUL that would end the header early.
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_RE = /^[^\u0000-\u0008\u000a-\u001f\u007f]{0,4096}$/;

/** The admin path kubelet probes for `container`'s `kind` probe. */
export function appProbePath(container: string, kind: AppProbeKind): string {
  return `${APP_HEALTH_PREFIX}${container}/${kind}`;
}

/** The `--app-probe` value of `p`: JSON in one fixed key order. */
export function renderAppProbe(p: AppProbe): string {
  const c = p.check;
  const check = c.type === 'http'
    ? { type: c.type, port: c.port, path: c.path, scheme: c.scheme, headers: c.headers.map((h) => ({ name: h.name, value: h.value })) }
    : { type: c.type, port: c.port };
  return JSON.stringify({ container: p.container, kind: p.kind, ...check, timeoutSeconds: p.timeoutSeconds });
}

/** What a valid `--app-probe` value is, for messages. */
export const APP_PROBE_EXPECTED = 'a JSON object {container, kind (startup|liveness|readiness), type (http|tcp), port 1-65535, timeoutSeconds 1-60; http also path "/…", scheme HTTP|HTTPS, headers [{name, value}]}';

/** Parses one `--app-probe` value; undefined when anything in it is wrong. */
export function parseAppProbe(text: string): AppProbe | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(v)) return undefined;
  const keys = v.type === 'http' ? ['container', 'kind', 'type', 'port', 'path', 'scheme', 'headers', 'timeoutSeconds'] : ['container', 'kind', 'type', 'port', 'timeoutSeconds'];
  if (Object.keys(v).length !== keys.length || !keys.every((k) => Object.hasOwn(v, k))) return undefined;
  if (typeof v.container !== 'string' || !CONTAINER_RE.test(v.container)) return undefined;
  const kind = APP_PROBE_KINDS.find((k) => k === v.kind);
  if (kind === undefined) return undefined;
  const port = typeof v.port === 'number' ? parsePortText(String(v.port)) : undefined;
  if (port === undefined) return undefined;
  const timeoutSeconds = v.timeoutSeconds;
  if (typeof timeoutSeconds !== 'number' || !Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_APP_PROBE_TIMEOUT_SECONDS) return undefined;
  let check: AppProbeCheck;
  if (v.type === 'tcp') {
    check = { type: 'tcp', port };
  } else if (v.type === 'http') {
    if (typeof v.path !== 'string' || !PATH_RE.test(v.path)) return undefined;
    if (v.scheme !== 'HTTP' && v.scheme !== 'HTTPS') return undefined;
    const headers = parseHeaders(v.headers);
    if (headers === undefined) return undefined;
    check = { type: 'http', port, path: v.path, scheme: v.scheme, headers };
  } else {
    return undefined;
  }
  return { container: v.container, kind, check, timeoutSeconds };
}

/** Checks kubelet's `httpHeaders` list; undefined when it isn't one we pass on. */
export function parseHeaders(v: unknown): AppProbeHeader[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_APP_PROBE_HEADERS) return undefined;
  const out: AppProbeHeader[] = [];
  for (const h of v) {
    if (!isObj(h) || Object.keys(h).some((k) => k !== 'name' && k !== 'value')) return undefined;
    if (typeof h.name !== 'string' || !HEADER_NAME_RE.test(h.name)) return undefined;
    const value = h.value ?? '';
    if (typeof value !== 'string' || !HEADER_VALUE_RE.test(value)) return undefined;
    out.push({ name: h.name, value });
  }
  return out;
}

/** True for a path kubelet's `httpGet.path` may hold and the sidecar will send. */
export function isAppProbePath(path: unknown): path is string {
  return typeof path === 'string' && PATH_RE.test(path);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
