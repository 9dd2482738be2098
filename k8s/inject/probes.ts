/**
 * Kubelet probes of meshed pods (docs/kubernetes.md, "Probes"). Kubelet probes in plaintext from the node, so a probe
 * on a port the sidecar captures can't reach the app. `inject` rewrites httpGet and tcpSocket probes on such ports
 * through the sidecar's admin port, as Istio's rewriteAppHTTPProbe does: the probe becomes an httpGet of
 * `/app-health/<container>/<kind>` on the admin port, and the original check is pinned in the sidecar's args
 * (`--app-probe`), which runs it against the app on 127.0.0.1 and answers 200/503 only.
 *
 * SECURITY: ccmesh never excludes a probed port from capture (that would open the port to every source in
 * plaintext). What the sidecar dials is pinned in its args (and so in the Kata policy), never taken from the kubelet's
 * request. grpc probes are refused (the sidecar speaks no gRPC health protocol); `ccmesh.dev/rewrite-probes: "false"`
 * refuses every probe on a captured port instead of rewriting it.
 */
import { APP_HEALTH_PREFIX, appProbePath, isAppProbePath, MAX_APP_PROBE_TIMEOUT_SECONDS, parseAppProbe, parseHeaders, type AppProbe, type AppProbeCheck, type AppProbeKind } from '../../lib/mesh-config/app-probe.js';
import type { IngressEntry } from '../../lib/mesh-config/ingress.js';
import { RESERVED_MESH_PORTS } from '../annotations.js';
import { ANNOTATIONS, INJECTED } from '../constants.js';
import { int, isObj, nameOf, refuse, type Obj, type UserContainer } from './checks.js';

/** The probe fields of a container, with the word kubelet and `kubectl describe` use for each. */
const PROBES = [
  ['startupProbe', 'startup'],
  ['livenessProbe', 'liveness'],
  ['readinessProbe', 'readiness'],
] as const satisfies readonly (readonly [string, AppProbeKind])[];

/** Probe handlers that connect to a port of the pod (`exec` runs inside the container and needs nothing). */
const NETWORK_HANDLERS = ['httpGet', 'tcpSocket', 'grpc'] as const;

/** kubelet's default `timeoutSeconds`. */
const DEFAULT_TIMEOUT_SECONDS = 1;

/** One probe to point at the admin port: the container, the probe field, and the check pinned for the sidecar. */
export interface ProbeRewrite {
  readonly u: UserContainer;
  readonly field: (typeof PROBES)[number][0];
  readonly probe: AppProbe;
  /** True when an earlier injection already pointed this probe at the admin port (it is left as it is). */
  readonly done: boolean;
}

/** The options that decide what happens to a probe on a captured port. */
export interface ProbePlanInput {
  readonly ingress: readonly IngressEntry[];
  readonly adminPort: number;
  /** False with `ccmesh.dev/rewrite-probes: "false"`: refuse instead of rewriting. */
  readonly rewrite: boolean;
  /** The probes an earlier injection pinned (the existing sidecar's `--app-probe` args), for re-injection. */
  readonly pinned: readonly AppProbe[];
}

/**
 * The `--app-probe` values of an existing ccmesh proxy container in `initContainers` (an earlier injection), parsed.
 * Values that don't parse are skipped: such a container differs from what we inject and is replaced or refused anyway.
 */
export function pinnedAppProbes(initContainers: readonly Obj[]): AppProbe[] {
  const proxy = initContainers.find((c) => c.name === INJECTED.proxy);
  const args = Array.isArray(proxy?.args) ? proxy.args : [];
  const out: AppProbe[] = [];
  args.forEach((a, i) => {
    const next: unknown = args[i + 1];
    if (a !== '--app-probe' || typeof next !== 'string') return;
    const p = parseAppProbe(next);
    if (p !== undefined) out.push(p);
  });
  return out;
}

/**
 * Decides every network probe of the user containers: passes those that need nothing (exec, own host, plain port,
 * admin port), returns the ones to rewrite in container and kind order (which is the order of the pinned args), and
 * refuses the rest with a message naming the field, the probe and what to do instead.
 */
export function planProbes(users: readonly UserContainer[], p: ProbePlanInput, where: string): ProbeRewrite[] {
  const out: ProbeRewrite[] = [];
  for (const u of users) {
    for (const [field, kind] of PROBES) {
      const pr = u.c[field];
      if (!isObj(pr)) continue;
      for (const handler of NETWORK_HANDLERS) {
        const h = pr[handler];
        if (!isObj(h)) continue;
        if (typeof h.host === 'string' && h.host !== '') continue;
        const portField = `${u.field}.${field}.${handler}.port`;
        const container = nameOf(u.c);
        const what = `container "${container}" has a ${kind} probe (${handler}) on port`;
        const port = resolvePort(u.c, h.port);
        if (port === undefined) {
          throw refuse(where, portField, `${what} ${JSON.stringify(h.port ?? null)}, which is neither a port number nor the name of one of the container's ports`);
        }
        const named = typeof h.port === 'string' && !/^\d+$/.test(h.port) ? h.port : undefined;
        const shown = named === undefined ? String(port) : `${port} ("${named}")`;
        const clash = RESERVED_MESH_PORTS.get(port);
        if (clash) throw refuse(where, portField, `${what} ${shown}, which is ${clash}`);
        if (port === p.adminPort) {
          // A probe an earlier injection rewrote: keep it and its pinned check (it is in the sidecar's args again).
          if (handler === 'httpGet' && typeof h.path === 'string' && h.path.startsWith(APP_HEALTH_PREFIX)) {
            const pinned = h.path === appProbePath(container, kind) ? p.pinned.find((a) => a.container === container && a.kind === kind) : undefined;
            if (pinned === undefined) throw refuse(where, `${u.field}.${field}.httpGet.path`, `container "${container}" has a ${kind} probe on the sidecar admin port at ${JSON.stringify(h.path)}, which is not an app probe the sidecar serves (ccmesh serves ${appProbePath(container, kind)} for this probe, pinned when it rewrites a probe of the app's own port; probe the app's port and ccmesh rewrites it)`);
            out.push({ u, field, probe: pinned, done: true });
          }
          continue;
        }
        const entry = p.ingress.find((e) => e.port === port);
        if (entry?.mode.kind === 'plain') continue;
        const required = entry ? `${entry.mode.kind} (${ANNOTATIONS.ingress} entry "${entry.name}")` : `mtls (as every port not listed in ${ANNOTATIONS.ingress} does)`;
        const example = `${entry?.name ?? named ?? 'probe'}#${port}#plain`;
        const alternatives = `Use an exec probe, or probe a separate port declared plain in ${ANNOTATIONS.ingress} (declaring this port plain, "${example}", opens it to every source)`;
        if (!p.rewrite) {
          throw refuse(where, portField, `${what} ${shown}, which requires ${required}, and ${ANNOTATIONS.rewriteProbes} is "false" so ccmesh does not rewrite it through the sidecar; kubelet probes in plaintext from the node, and excluding the port from capture would open it to every source in plaintext. ${alternatives}, or drop the ${ANNOTATIONS.rewriteProbes} annotation`);
        }
        if (handler === 'grpc') {
          throw refuse(where, portField, `${what} ${shown}, which requires ${required}; ccmesh rewrites httpGet and tcpSocket probes through the sidecar, not grpc ones, and kubelet probes in plaintext from the node. Use an exec probe running a gRPC health client in the app's container, or an httpGet or tcpSocket probe (ccmesh rewrites those), or probe a separate port declared plain in ${ANNOTATIONS.ingress} (declaring this port plain, "${example}", opens it to every source)`);
        }
        out.push({ u, field, probe: { container, kind, check: appCheck(handler, h, port, `${u.field}.${field}.${handler}`, what, shown, where), timeoutSeconds: timeoutOf(pr, `${u.field}.${field}.timeoutSeconds`, where) }, done: false });
      }
    }
  }
  return out;
}

/** The pinned check of an httpGet or tcpSocket probe, every field checked. */
function appCheck(handler: 'httpGet' | 'tcpSocket', h: Obj, port: number, field: string, what: string, shown: string, where: string): AppProbeCheck {
  if (handler === 'tcpSocket') return { type: 'tcp', port };
  const path = h.path === undefined || h.path === null || h.path === '' ? '/' : h.path;
  if (!isAppProbePath(path)) throw refuse(where, `${field}.path`, `${what} ${shown} with path ${JSON.stringify(path)}; expected an absolute path of at most 2048 visible ASCII characters (no spaces), which the sidecar requests from the app`);
  const scheme = h.scheme === undefined || h.scheme === null ? 'HTTP' : h.scheme;
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw refuse(where, `${field}.scheme`, `${what} ${shown} with scheme ${JSON.stringify(scheme)}; expected "HTTP" or "HTTPS"`);
  const headers = parseHeaders(h.httpHeaders ?? []);
  if (headers === undefined) throw refuse(where, `${field}.httpHeaders`, `${what} ${shown} with headers ${JSON.stringify(h.httpHeaders)}; expected at most 16 {name, value} headers, names HTTP tokens, values without control characters`);
  return { type: 'http', port, path, scheme, headers };
}

function timeoutOf(pr: Obj, field: string, where: string): number {
  const v = pr.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const n = int(v);
  if (n === undefined || n < 1 || n > MAX_APP_PROBE_TIMEOUT_SECONDS) throw refuse(where, field, `is ${JSON.stringify(v)}; expected whole seconds from 1 to ${MAX_APP_PROBE_TIMEOUT_SECONDS} for a probe ccmesh rewrites through the sidecar`);
  return n;
}

/**
 * Points each rewritten probe at the admin port: the handler is replaced in place (same key position, every other
 * probe field kept), so re-injection of an injected pod leaves it byte-equal.
 */
export function applyProbeRewrites(rewrites: readonly ProbeRewrite[], adminPort: number): void {
  for (const r of rewrites) {
    if (r.done) continue;
    const pr = r.u.c[r.field] as Obj;
    const target = { path: appProbePath(r.probe.container, r.probe.kind), port: adminPort, scheme: 'HTTP' };
    const out: Obj = {};
    for (const [k, v] of Object.entries(pr)) {
      if (k === 'httpGet' || k === 'tcpSocket') out.httpGet ??= target;
      else out[k] = v;
    }
    r.u.c[r.field] = out;
  }
}

function resolvePort(c: Obj, port: unknown): number | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  if (typeof port !== 'string' || port === '') return undefined;
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  const ports = Array.isArray(c.ports) ? c.ports : [];
  for (const p of ports) if (isObj(p) && p.name === port) return int(p.containerPort);
  return undefined;
}
