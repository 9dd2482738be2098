/**
 * `ccmesh check`: is this install healthy? One line per check, in order — Kubernetes API, Coordinator StatefulSet,
 * Coordinator user API and its manifest, injector webhook (caBundle, serving certificate, Deployment), injected pods'
 * sidecars, their leaf certificates. A check whose prerequisite failed is listed as skipped, not failed.
 * Everything is read-only (GETs); exit 0 when every check passes, 3 when any fails.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:net';
import { coordinatorStateName } from '../../../lib/protocol/messages.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { describeError } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { PORTS } from '../../../lib/mesh-ports.js';
import { parseAddress } from '../../../lib/protocol/client.js';
import { ANNOTATIONS, INJECTED, INSTALL_NAMES } from '../../../k8s/constants.js';
import { KubeApiError } from '../../../k8s/webhook/kube-client.js';
import { TLS_DIR_FILES } from '../../../k8s/webhook/serving-cert.js';
import { LEAF_EXPIRY_METRIC } from '../../../proxy/metrics.js';
import { attestedSessionWithOwner } from '../../coordinator-session.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceManifest } from '../../workspace.js';
import { findKubeAccess, KubeReader } from './check-kube.js';

/** Usage of `ccmesh check`. */
export const CHECK_USAGE = `Usage:
  ccmesh check [--kubeconfig FILE] [--context NAME] [--namespace ccmesh-system] [--coordinator 127.0.0.1:1313]
               [--dir WORKSPACE] [--min-validity 7d] [--timeout 10s]

Checks an install, one line each ("✔ what" or "✖ what — what to do"; "- what: skipped" after a failed prerequisite):
the Kubernetes API answers and accepts the credentials; the Coordinator StatefulSet has a ready replica; the
Coordinator's user API answers at --coordinator (reach it with "kubectl -n ccmesh-system port-forward
svc/coordinator 1313:1313"; a port-forward accepts connections even when no Coordinator answers behind it, so pass
--dir to attest it); with --dir, the attested Coordinator has a manifest; the injector's webhook
configuration, its caBundle and serving certificate (valid for more than --min-validity) and its Deployment; the
ccmesh-proxy sidecar of every injected pod is ready; and the leaf certificates of up to 20 injected pods (their
/metrics through the API server's pod proxy) are valid for more than --min-validity. Read-only.
Exit 0 when every check passes, 3 when any fails, 64 on bad flags.
  --kubeconfig FILE   default: the first file of $KUBECONFIG, else ~/.kube/config, else the pod's service account
  --context NAME      a kubeconfig context other than its current-context
  --namespace NS      the install namespace (default ${INSTALL_NAMES.namespace})
  --coordinator H:P   the Coordinator user API (default 127.0.0.1:${PORTS.coordinatorUser}, i.e. a port-forward)
  --dir WORKSPACE     the workspace whose manifest the Coordinator is attested against (as "ccmesh verify");
                      without it the manifest is not checked
  --min-validity D    least remaining lifetime of the caBundle, the serving and the leaf certificates (default 7d)
  --timeout D         per request (default 10s)
`;

const FLAGS = {
  kubeconfig: { type: 'string' }, context: { type: 'string' }, namespace: { type: 'string' }, coordinator: { type: 'string' },
  dir: { type: 'string' }, 'min-validity': { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean' },
} as const;

/** Pods whose leaf expiry is read, at most (each is one request through the API server). */
export const MAX_LEAF_PODS = 20;
/** Not-ready pods named, at most. */
const MAX_NAMED = 5;
const DAY_MS = 86_400_000;

type Status = 'pass' | 'fail' | 'skip';
interface Line {
  readonly status: Status;
  readonly what: string;
  readonly hint?: string;
}

/** The text of one result line. */
export function formatLine(l: Line): string {
  if (l.status === 'pass') return `✔ ${l.what}`;
  if (l.status === 'fail') return `✖ ${l.what}${l.hint !== undefined ? ` — ${l.hint}` : ''}`;
  return `- ${l.what}: skipped${l.hint !== undefined ? ` (${l.hint})` : ''}`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const date = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const days = (ms: number): string => `${(ms / DAY_MS).toFixed(1)}d`;

/** `7d`, `36h`, `30m`, … in milliseconds; undefined when malformed. */
function parseValidity(s: string): number | undefined {
  const m = /^(\d{1,5})d$/.exec(s);
  if (m) return Number(m[1]) * DAY_MS;
  const hm = /^(\d{1,7})(h|m|s)$/.exec(s);
  if (!hm) return undefined;
  return Number(hm[1]) * (hm[2] === 'h' ? 3_600_000 : hm[2] === 'm' ? 60_000 : 1000);
}

/** Every certificate of a PEM bundle; throws when a block does not parse or there is none. */
function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate in it');
  return blocks.map((b) => new X509Certificate(b));
}

/** Why an API call failed, with what to do about it. */
function apiHint(err: unknown): string {
  if (err instanceof KubeApiError && err.status === 401) return 'the API server does not accept the kubeconfig\'s credentials: renew the token or client certificate';
  if (err instanceof KubeApiError && err.status === 403) return 'the credentials are not allowed to read this: use an account with read access to ccmesh-system and pods';
  if (err instanceof KubeApiError && err.status === undefined) return 'check the kubeconfig\'s server address and CA, and that the cluster is up';
  return 'see the message';
}

/** A TCP connect to `address` within `timeoutMs`. */
function tcpReachable(address: string, timeoutMs: number): Promise<string | undefined> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (err: string | undefined): void => {
      s.destroy();
      resolve(err);
    };
    s.once('connect', () => done(undefined));
    s.once('timeout', () => done(`no answer within ${timeoutMs} ms`));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** Runs `ccmesh check`. */
export async function checkCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(CHECK_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('check', argv, FLAGS);
  const namespace = r.raw('namespace') ?? INSTALL_NAMES.namespace;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) r.issue('namespace', namespace, 'a Kubernetes namespace name (DNS label)');
  const coordinator = r.raw('coordinator') ?? `127.0.0.1:${PORTS.coordinatorUser}`;
  try {
    parseAddress(coordinator);
  } catch {
    r.issue('coordinator', coordinator, 'HOST:PORT of the Coordinator user API');
  }
  const validityText = r.raw('min-validity');
  const minValidityMs = validityText === undefined ? 7 * DAY_MS : parseValidity(validityText);
  if (minValidityMs === undefined) r.issue('min-validity', validityText, 'a duration such as 7d, 36h or 30m');
  const timeoutMs = r.duration('timeout', 10_000);
  if (timeoutMs !== undefined && (timeoutMs < 100 || timeoutMs > 600_000)) r.issue('timeout', r.raw('timeout'), 'a duration from 100ms to 10m');
  for (const f of ['kubeconfig', 'context', 'dir'] as const) if (r.raw(f) === '') r.issue(f, '', 'a non-empty value');
  r.finish();
  const dir = r.raw('dir');
  const minMs = minValidityMs!;
  const waitMs = timeoutMs!;
  // Read the kubeconfig (and the workspace manifest) before any network: a bad file is exit 64, not a failed check.
  const access = await findKubeAccess({ kubeconfig: r.raw('kubeconfig'), context: r.raw('context'), env: process.env });
  const workspace = dir === undefined ? undefined : await readWorkspaceManifest(dir, io.stderr);

  let failed = false;
  const emit = (l: Line): void => {
    if (l.status === 'fail') failed = true;
    io.stdout(`${formatLine(l)}\n`);
  };
  const kube = new KubeReader(access, waitMs);
  const now = Date.now();
  try {
    // 1. The API server answers and accepts the credentials (discovery needs an authenticated user).
    let apiOk = false;
    try {
      await kube.getObject('/api', 'reading /api');
      apiOk = true;
      emit({ status: 'pass', what: `Kubernetes API at ${access.url} answers (${access.source})` });
    } catch (err) {
      const why = err instanceof KubeApiError && err.status === 401 ? 'unauthorised (HTTP 401)' : err instanceof KubeApiError && err.status === 403 ? 'forbidden (HTTP 403)' : describeError(err);
      emit({ status: 'fail', what: `Kubernetes API at ${access.url}: ${why}`, hint: apiHint(err) });
    }
    const noApi = 'the Kubernetes API check failed';

    // 2. Coordinator StatefulSet.
    const sts = `${namespace}/${INSTALL_NAMES.coordinator}`;
    let coordinatorReady = false;
    if (!apiOk) emit({ status: 'skip', what: `Coordinator StatefulSet ${sts}`, hint: noApi });
    else {
      try {
        const o = await kube.getObject(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${INSTALL_NAMES.coordinator}`, `reading statefulset ${sts}`);
        const ready = num(obj(o.status).readyReplicas);
        const want = num(obj(o.spec).replicas);
        coordinatorReady = ready >= 1;
        emit(coordinatorReady
          ? { status: 'pass', what: `Coordinator StatefulSet ${sts}: ${ready}/${want} replica(s) ready` }
          : { status: 'fail', what: `Coordinator StatefulSet ${sts}: no ready replica (0/${want})`, hint: `see "kubectl -n ${namespace} describe statefulset ${INSTALL_NAMES.coordinator}" and its pods' logs; a Coordinator becomes ready once a manifest is set or it is recovered` });
      } catch (err) {
        emit(err instanceof KubeApiError && err.status === 404
          ? { status: 'fail', what: `Coordinator StatefulSet ${sts} not found`, hint: `install ccmesh ("ccmesh install | kubectl apply -f -") or pass --namespace` }
          : { status: 'fail', what: `Coordinator StatefulSet ${sts}: ${describeError(err)}`, hint: apiHint(err) });
      }
    }

    // 3. Coordinator user API and its manifest.
    const userApi = `Coordinator user API at ${coordinator}`;
    let userApiOk = false;
    if (!coordinatorReady) emit({ status: 'skip', what: userApi, hint: 'no ready Coordinator' });
    else {
      const err = await tcpReachable(coordinator, waitMs);
      userApiOk = err === undefined;
      emit(userApiOk
        ? { status: 'pass', what: `${userApi} answers` }
        : { status: 'fail', what: `${userApi} does not answer (${err})`, hint: `run "kubectl -n ${namespace} port-forward svc/${INSTALL_NAMES.coordinator} ${PORTS.coordinatorUser}:${PORTS.coordinatorUser}" or pass --coordinator HOST:PORT` });
    }
    const manifestWhat = 'Coordinator attested and holds a manifest';
    if (!userApiOk) emit({ status: 'skip', what: manifestWhat, hint: 'the user API did not answer' });
    else if (workspace === undefined) emit({ status: 'skip', what: manifestWhat, hint: 'not checked: pass --dir WORKSPACE' });
    else {
      try {
        const { client } = await attestedSessionWithOwner(coordinator, UserApi, workspace.manifest, { io, waitMs });
        try {
          const res = await client.call('GetManifests', {});
          const state = coordinatorStateName(res.state);
          emit(res.manifests.length > 0
            ? { status: 'pass', what: `${manifestWhat}: ${res.manifests.length} manifest(s), state ${state}` }
            : { status: 'fail', what: `Coordinator attested but holds no manifest (state ${state})`, hint: state === 'recovery' ? `recover it: "ccmesh recover -c ${coordinator} --dir ${dir}"` : `set one: "ccmesh set -c ${coordinator} --dir ${dir}"` });
        } finally {
          client.close();
        }
      } catch (err) {
        emit({ status: 'fail', what: `Coordinator at ${coordinator} not attested: ${describeError(err)}`, hint: `check that ${dir} is this mesh's workspace ("ccmesh verify -c ${coordinator} --dir ${dir}")` });
      }
    }

    // 4. Injector: webhook configuration and caBundle, serving certificate, Deployment.
    const hookName = INSTALL_NAMES.webhookConfiguration;
    let hookOk = false;
    let caBundle: string | undefined;
    if (!apiOk) emit({ status: 'skip', what: `webhook configuration ${hookName}`, hint: noApi });
    else {
      try {
        const o = await kube.getObject(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${hookName}`, `reading mutatingwebhookconfiguration ${hookName}`);
        const hooks = Array.isArray(o.webhooks) ? o.webhooks : [];
        const hook = hooks.map(obj).find((h) => h.name === INSTALL_NAMES.webhookName);
        if (hook === undefined) emit({ status: 'fail', what: `webhook configuration ${hookName} has no webhook ${INSTALL_NAMES.webhookName}`, hint: 're-apply the install' });
        else {
          hookOk = true;
          const b = obj(hook.clientConfig).caBundle;
          caBundle = typeof b === 'string' && b !== '' ? b : undefined;
          emit({ status: 'pass', what: `webhook configuration ${hookName} present` });
        }
      } catch (err) {
        emit(err instanceof KubeApiError && err.status === 404
          ? { status: 'fail', what: `webhook configuration ${hookName} not found`, hint: 'install ccmesh ("ccmesh install | kubectl apply -f -")' }
          : { status: 'fail', what: `webhook configuration ${hookName}: ${describeError(err)}`, hint: apiHint(err) });
      }
    }
    if (!hookOk) emit({ status: 'skip', what: 'webhook caBundle', hint: 'no webhook configuration' });
    else if (caBundle === undefined) emit({ status: 'fail', what: 'webhook caBundle is empty', hint: 'the injector sets it when it starts: check that the injector runs and its logs' });
    else {
      try {
        const certs = parsePemBundle(Buffer.from(caBundle, 'base64').toString('utf8'));
        const earliest = Math.min(...certs.map((c) => Date.parse(c.validTo)));
        emit(earliest - now > minMs
          ? { status: 'pass', what: `webhook caBundle: ${certs.length} certificate(s), earliest expires ${date(earliest)}` }
          : { status: 'fail', what: `webhook caBundle: a certificate expires ${date(earliest)} (${earliest <= now ? 'expired' : `in ${days(earliest - now)}`}, under ${days(minMs)})`, hint: `rotate the injector's CA (delete its CA Secret and restart "deployment/${INSTALL_NAMES.injector}") or renew injector.tlsSecret` });
      } catch (err) {
        emit({ status: 'fail', what: `webhook caBundle does not parse as certificates: ${describeError(err)}`, hint: `restart "deployment/${INSTALL_NAMES.injector}" so it sets the caBundle again` });
      }
    }
    const dep = `${namespace}/${INSTALL_NAMES.injector}`;
    let servingSecret: string | undefined;
    if (!apiOk) emit({ status: 'skip', what: `injector Deployment ${dep}`, hint: noApi });
    else {
      try {
        const o = await kube.getObject(`/apis/apps/v1/namespaces/${namespace}/deployments/${INSTALL_NAMES.injector}`, `reading deployment ${dep}`);
        const podSpec = obj(obj(obj(o.spec).template).spec);
        const containers = Array.isArray(podSpec.containers) ? podSpec.containers.map(obj) : [];
        const args = containers.flatMap((c) => (Array.isArray(c.args) ? c.args.filter((a): a is string => typeof a === 'string') : []));
        const caAt = args.indexOf('--ca-secret');
        if (caAt >= 0) servingSecret = args[caAt + 1];
        else if (args.includes('--tls-dir')) {
          const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes.map(obj) : [];
          const name = obj(volumes.find((v) => isObj(v.secret))?.secret).secretName;
          if (typeof name === 'string') servingSecret = name;
        }
        const available = num(obj(o.status).availableReplicas);
        emit(available >= 1
          ? { status: 'pass', what: `injector Deployment ${dep}: ${available} available replica(s)` }
          : { status: 'fail', what: `injector Deployment ${dep}: no available replica`, hint: `see "kubectl -n ${namespace} describe deployment ${INSTALL_NAMES.injector}"; it becomes ready once it has set the caBundle` });
      } catch (err) {
        emit(err instanceof KubeApiError && err.status === 404
          ? { status: 'fail', what: `injector Deployment ${dep} not found`, hint: 'install ccmesh ("ccmesh install | kubectl apply -f -")' }
          : { status: 'fail', what: `injector Deployment ${dep}: ${describeError(err)}`, hint: apiHint(err) });
      }
    }
    if (servingSecret !== undefined) {
      const sec = `${namespace}/${servingSecret}`;
      try {
        const o = await kube.getObject(`/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(servingSecret)}`, `reading secret ${sec}`);
        const data = obj(o.data);
        // A self-managed shared Secret (it holds the CA key): the injectors renew their leaves from its CA in memory and
        // rotate the CA through the Secret, so the tls.crt stored there ages out routinely; its ca.crt is what must
        // stay valid. Otherwise (cert-manager, a Secret without the key) the stored tls.crt is the one served.
        const sharedCa = typeof data[TLS_DIR_FILES.caKey] === 'string' && typeof data[TLS_DIR_FILES.ca] === 'string';
        const key = sharedCa ? TLS_DIR_FILES.ca : TLS_DIR_FILES.cert;
        const crt = data[key];
        if (typeof crt !== 'string') throw new Error(`it has no ${key}`);
        const cert = parsePemBundle(Buffer.from(crt, 'base64').toString('utf8'))[0]!;
        const until = Date.parse(cert.validTo);
        const what = sharedCa ? `injector serving CA (secret ${sec}, self-managed)` : `injector serving certificate (secret ${sec})`;
        emit(until - now > minMs
          ? { status: 'pass', what: `${what} expires ${date(until)}` }
          : {
            status: 'fail',
            what: `${what} expires ${date(until)} (${until <= now ? 'expired' : `in ${days(until - now)}`}, under ${days(minMs)})`,
            hint: sharedCa
              ? `the injectors rotate it at 2/3 of its life: see "kubectl -n ${namespace} logs deployment/${INSTALL_NAMES.injector}" for rotation errors (RBAC update on the Secret), or delete the Secret and restart the injector`
              : 'renew it (a self-managed one: delete the Secret and restart the injector)',
          });
      } catch (err) {
        emit({ status: 'fail', what: `injector serving certificate (secret ${sec}): ${describeError(err)}`, hint: err instanceof KubeApiError && err.status === 404 ? 'the injector creates it when it starts: check its logs' : apiHint(err) });
      }
    }

    // 5. Injected pods: the sidecar container ready.
    type Pod = { ns: string; name: string; adminPort: number; ready: boolean };
    let pods: Pod[] | undefined;
    if (!apiOk) emit({ status: 'skip', what: 'injected pods', hint: noApi });
    else {
      try {
        pods = [];
        let cont: string | undefined;
        for (let page = 0; page < 40; page++) {
          const q = `limit=500${cont !== undefined ? `&continue=${encodeURIComponent(cont)}` : ''}`;
          const list = await kube.getObject(`/api/v1/pods?${q}`, 'listing pods');
          for (const p of Array.isArray(list.items) ? list.items.map(obj) : []) {
            const meta = obj(p.metadata);
            const ann = obj(meta.annotations);
            if (ann[ANNOTATIONS.injected] === undefined) continue;
            const status = obj(p.status);
            const statuses = [...(Array.isArray(status.containerStatuses) ? status.containerStatuses : []), ...(Array.isArray(status.initContainerStatuses) ? status.initContainerStatuses : [])].map(obj);
            const proxy = statuses.find((s) => s.name === INJECTED.proxy);
            const portText = ann[ANNOTATIONS.adminPort];
            const port = typeof portText === 'string' && /^\d{1,5}$/.test(portText) ? Number(portText) : PORTS.sidecarAdmin;
            pods.push({ ns: String(meta.namespace), name: String(meta.name), adminPort: port, ready: proxy?.ready === true });
          }
          const c = obj(list.metadata).continue;
          if (typeof c !== 'string' || c === '') break;
          cont = c;
        }
        const notReady = pods.filter((p) => !p.ready);
        if (pods.length === 0) emit({ status: 'pass', what: 'injected pods: none found' });
        else if (notReady.length === 0) emit({ status: 'pass', what: `injected pods: ${pods.length}/${pods.length} with ${INJECTED.proxy} ready` });
        else {
          const names = notReady.slice(0, MAX_NAMED).map((p) => `${p.ns}/${p.name}`).join(', ') + (notReady.length > MAX_NAMED ? `, and ${notReady.length - MAX_NAMED} more` : '');
          emit({ status: 'fail', what: `injected pods: ${pods.length - notReady.length}/${pods.length} with ${INJECTED.proxy} ready; not ready: ${names}`, hint: `see "kubectl logs -n NS POD -c ${INJECTED.proxy}"` });
        }
      } catch (err) {
        pods = undefined;
        emit({ status: 'fail', what: `injected pods: ${describeError(err)}`, hint: apiHint(err) });
      }
    }

    // 6. Leaf expiry of (at most MAX_LEAF_PODS) injected pods with a ready sidecar, through the pod proxy.
    if (pods === undefined) emit({ status: 'skip', what: 'sidecar leaf certificates', hint: 'the pods could not be listed' });
    else {
      const sample = pods.filter((p) => p.ready).slice(0, MAX_LEAF_PODS);
      if (sample.length === 0) emit({ status: 'skip', what: 'sidecar leaf certificates', hint: 'no injected pod with a ready sidecar' });
      else {
        const short: string[] = [];
        const unread: string[] = [];
        let earliest = Infinity;
        await Promise.all(sample.map(async (p) => {
          const id = `${p.ns}/${p.name}`;
          try {
            const text = await kube.getText(`/api/v1/namespaces/${encodeURIComponent(p.ns)}/pods/${encodeURIComponent(p.name)}:${p.adminPort}/proxy/metrics`, `reading the metrics of ${id}`, waitMs);
            const m = new RegExp(`^${LEAF_EXPIRY_METRIC}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
            if (!m) throw new Error(`no ${LEAF_EXPIRY_METRIC}`);
            const at = Number(m[1]) * 1000;
            earliest = Math.min(earliest, at);
            if (at - now <= minMs) short.push(`${id} (${date(at)})`);
          } catch {
            unread.push(id);
          }
        }));
        const extra = sample.length < pods.filter((p) => p.ready).length ? ` (${MAX_LEAF_PODS} of ${pods.filter((p) => p.ready).length} pods read)` : '';
        if (short.length > 0) emit({ status: 'fail', what: `sidecar leaf certificates: ${short.length} expire within ${days(minMs)}: ${short.sort().slice(0, MAX_NAMED).join(', ')}`, hint: 'leaves renew themselves: check the sidecar\'s ccmesh_proxy_cert_renewals_total and logs, and that the Coordinator is ready' });
        if (unread.length > 0) emit({ status: 'fail', what: `sidecar leaf certificates: could not read the metrics of ${unread.length} pod(s): ${unread.sort().slice(0, MAX_NAMED).join(', ')}`, hint: 'the pod proxy needs "get" on pods/proxy' });
        if (short.length === 0 && unread.length === 0) emit({ status: 'pass', what: `sidecar leaf certificates: ${sample.length} read, earliest expires ${date(earliest)}${extra}` });
      }
    }
  } finally {
    await kube.close();
  }
  io.stdout(failed ? 'Some checks failed.\n' : 'All checks passed.\n');
  return failed ? EXIT.rejected : EXIT.ok;
}
