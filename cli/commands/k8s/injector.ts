/**
 * `ccmesh injector`: parse flags → serving credentials → start the webhook → make its configuration trust the CA
 * → ready → wait for SIGINT/SIGTERM → drain → exit. Configuration errors exit 64 with every problem listed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAdminHttp, type RunningAdminHttp } from '../../../lib/http/admin-server.js';
import { systemClock } from '../../../lib/clock.js';
import { describeError, systemErrorCode } from '../../../lib/errors.js';
import { listenFailed } from '../../../lib/net/listen-error.js';
import { isListenHost } from '../../../lib/net/listen-host.js';
import { createLogger } from '../../../lib/log.js';
import { createRegistry } from '../../../lib/metrics.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { ADMIN_HTTP_PATHS, PORTS } from '../../../lib/mesh-ports.js';
import { INSTALL_NAMES } from '../../../k8s/constants.js';
import type { InjectOptions } from '../../../k8s/inject/inject.js';
import { INJECTED_REQUESTS } from '../../../k8s/inject/parts.js';
import { expectedQuantity, parseQuantity } from '../../../k8s/quantity.js';
import { type RunningInjector, startInjector } from '../../../k8s/webhook/injector.js';
import { inClusterApiUrl, KubeClient, SERVICE_ACCOUNT_DIR, serviceAccountConfig } from '../../../k8s/webhook/kube-client.js';
import { createInjectorMetrics } from '../../../k8s/webhook/metrics.js';
import { WEBHOOK_SERVER_DEFAULTS } from '../../../k8s/webhook/server.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import { measurementFlag } from '../../../lib/config/flag-values.js';
import type { CliIo } from '../../io.js';

const FLAGS = {
  port: { type: 'string' },
  'listen-host': { type: 'string' },
  service: { type: 'string' },
  namespace: { type: 'string' },
  'webhook-config': { type: 'string' },
  'tls-dir': { type: 'string' },
  'ca-secret': { type: 'string' },
  'reload-interval': { type: 'string' },
  'shutdown-delay': { type: 'string' },
  image: { type: 'string' },
  coordinator: { type: 'string' },
  'coordinator-policy': { type: 'string' },
  'mesh-owner': { type: 'string' },
  'coordinator-measurement': { type: 'string', multiple: true },
  tee: { type: 'string' },
  'proxy-memory-limit': { type: 'string' },
  'prometheus-annotations': { type: 'boolean' },
  'metrics-port': { type: 'string' },
  'log-level': { type: 'string' },
  'kube-api': { type: 'string' },
  'service-account-dir': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Default of --shutdown-delay: longer than endpoint removal usually takes to reach every node's proxy. */
export const DEFAULT_SHUTDOWN_DELAY_MS = 5_000;

const TEES = ['auto', 'configfs-tsm', 'sev-guest', 'tdx-guest'] as const satisfies readonly InjectOptions['tee'][];

/** Usage of `ccmesh injector`. */
export const INJECTOR_USAGE = `Usage:
  ccmesh injector [--port ${PORTS.injectorWebhook}] [--service ${INSTALL_NAMES.injector}] [--namespace NS]
                  [--webhook-config ${INSTALL_NAMES.webhookConfiguration}] [--tls-dir DIR [--reload-interval 10s]] [--ca-secret NAME] [--shutdown-delay 5s] [--metrics-port ${PORTS.injectorMetrics}]
                  [--image IMAGE] [--coordinator HOST:PORT] [--coordinator-policy HASH --mesh-owner HEX32 --coordinator-measurement HEX48...]
                  [--tee auto|configfs-tsm|sev-guest|tdx-guest] [--proxy-memory-limit QUANTITY] [--prometheus-annotations]
                  [--kube-api https://HOST:PORT] [--service-account-dir DIR] [--log-level info]

Serves the sidecar-injection admission webhook: AdmissionReview v1 over HTTPS on POST ${INSTALL_NAMES.webhookPath},
answered with a JSONPatch built by the same inject as "ccmesh generate". Pods whose Kata policy or initdata
annotation was computed before injection are refused, not mutated.

  --port              HTTPS port of the webhook (default ${PORTS.injectorWebhook}; 0 = any free port); also GET /healthz, /readyz
  --listen-host       address to bind (default 0.0.0.0)
  --service           Service name the API server calls (default ${INSTALL_NAMES.injector})
  --namespace         its namespace (default: the service account's namespace file)
  --webhook-config    MutatingWebhookConfiguration whose caBundle is set (default ${INSTALL_NAMES.webhookConfiguration})
  --tls-dir           use tls.crt, tls.key (and ca.crt, if present) from DIR instead of a self-managed CA;
                      re-read every --reload-interval (default 10s). Without ca.crt the caBundle is left alone.
  --ca-secret         self-managed and shared: the CA and serving certificate live in Secret NAME of --namespace
                      (tls.crt, tls.key, ca.crt); the first replica to start creates it, the others read it, so
                      every replica serves one certificate (needs get on that Secret and create on Secrets)
  --shutdown-delay    on SIGTERM, keep answering (unready) this long before closing, so reviews the Service still
                      routes here during a rolling update are answered (default 5s; keep it below the pod's
                      terminationGracePeriodSeconds)
  --image, --coordinator, --coordinator-policy, --mesh-owner, --coordinator-measurement, --tee
                      passed to inject (the injected containers' image, Coordinator address, the Coordinator
                      policy hash pods verify, evidence source)
  --proxy-memory-limit
                      memory limit of every injected proxy (e.g. 256Mi; at least its 128Mi request); default none.
                      A pod's ccmesh.dev/proxy-memory-limit annotation overrides it
  --prometheus-annotations
                      add prometheus.io/scrape, /port (the sidecar admin port) and /path to injected pods that
                      have no prometheus.io/* annotation of their own
  --metrics-port      plain-HTTP port of ${ADMIN_HTTP_PATHS.livenessProbe}, ${ADMIN_HTTP_PATHS.readinessProbe}, ${ADMIN_HTTP_PATHS.startupProbe} and ${ADMIN_HTTP_PATHS.metrics}
                      (default ${PORTS.injectorMetrics}; 0 = any free port)
  --kube-api          API server URL (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)
  --service-account-dir
                      token, ca.crt and namespace of the API credentials (default ${SERVICE_ACCOUNT_DIR})
  --log-level         debug, info, warn or error (default info); JSON lines on stderr

Without --tls-dir or --ca-secret a fresh CA and serving certificate are made at every start and kept in memory only;
the webhook reports ready once the webhook configuration's caBundle holds that CA. Run one replica in that mode (each
replica would publish its own CA); use --ca-secret, or --tls-dir (e.g. a cert-manager Certificate), for several.
`;

/** Runs the webhook until the process is signalled. */
export async function injectorCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(INJECTOR_USAGE);
    return EXIT.ok;
  }
  const { r, tok } = readCommandFlags('injector', argv, FLAGS);
  // 0 binds any free port (tests); the bound ports are logged.
  const port = r.integer('port', 0, 65535, PORTS.injectorWebhook);
  const metricsPort = r.integer('metrics-port', 0, 65535, PORTS.injectorMetrics);
  if (port !== undefined && port !== 0 && port === metricsPort) r.issue('metrics-port', String(metricsPort), 'a port other than --port\'s (the webhook and the admin server each need their own)');
  const tee = r.oneOf('tee', TEES, 'auto');
  const level = r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info');
  const reloadMs = r.duration('reload-interval', 10_000);
  const shutdownDelayMs = r.duration('shutdown-delay', DEFAULT_SHUTDOWN_DELAY_MS);
  if (reloadMs !== undefined && reloadMs < 100) r.issue('reload-interval', r.raw('reload-interval'), 'at least 100ms');
  const saDir = r.raw('service-account-dir') ?? SERVICE_ACCOUNT_DIR;
  const kubeApi = r.raw('kube-api') ?? inClusterApiUrl(process.env.KUBERNETES_SERVICE_HOST, process.env.KUBERNETES_SERVICE_PORT);
  if (kubeApi !== undefined && !/^https:\/\/[^/?#]+\/?$/.test(kubeApi)) r.issue('kube-api', kubeApi, 'an https://HOST:PORT URL');
  if (r.raw('ca-secret') !== undefined && r.raw('tls-dir') !== undefined) r.issue('ca-secret', r.raw('ca-secret'), 'not with --tls-dir (the certificate comes from one place)');
  if (r.raw('ca-secret') !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(r.raw('ca-secret')!)) r.issue('ca-secret', r.raw('ca-secret'), 'a Secret name (DNS-1123 subdomain)');
  for (const f of ['service', 'namespace', 'webhook-config', 'image', 'coordinator', 'tls-dir', 'listen-host'] as const) {
    if (r.raw(f) === '') r.issue(f, '', 'a non-empty value');
  }
  const listenHost = r.raw('listen-host');
  if (listenHost !== undefined && listenHost !== '' && !isListenHost(listenHost)) r.issue('listen-host', listenHost, 'an IPv4 or IPv6 address of this host (0.0.0.0 or :: for all), or a DNS name');
  let namespace = r.raw('namespace');
  if (namespace === undefined) {
    try {
      namespace = (await readFile(join(saDir, 'namespace'), 'utf8')).trim();
    } catch (err) {
      r.issue('namespace', undefined, `a namespace (not in a cluster: ${join(saDir, 'namespace')} is unreadable: ${describeError(err)})`);
    }
  }
  const coordinatorMeasurements = measurementFlag(r, tok, 'coordinator-measurement');
  if ((r.raw('coordinator-policy') === undefined) !== (coordinatorMeasurements.length === 0)) {
    r.issue('coordinator-measurement', undefined, 'at least one Coordinator launch measurement together with --coordinator-policy, and none without it');
  }
  if ((r.raw('coordinator-policy') === undefined) !== (r.raw('mesh-owner') === undefined)) {
    r.issue(r.raw('mesh-owner') === undefined ? 'mesh-owner' : 'coordinator-policy', undefined, 'both --coordinator-policy and --mesh-owner (pods that verify the Coordinator pin whose mesh it serves), or neither');
  }
  const memLimit = r.raw('proxy-memory-limit');
  if (memLimit !== undefined) {
    const bytes = parseQuantity(memLimit, 'memory');
    if (bytes === undefined) r.issue('proxy-memory-limit', memLimit, expectedQuantity('memory'));
    else if (bytes < parseQuantity(INJECTED_REQUESTS.proxy.memory, 'memory')!) r.issue('proxy-memory-limit', memLimit, `at least the proxy's memory request ${INJECTED_REQUESTS.proxy.memory}`);
  }
  r.finish();

  const injectOpts: Partial<InjectOptions> = {
    tee: tee!,
    ...(r.raw('image') !== undefined ? { image: r.raw('image')! } : {}),
    ...(r.raw('coordinator') !== undefined ? { coordinator: r.raw('coordinator')! } : {}),
    ...(r.raw('coordinator-policy') !== undefined ? { coordinatorPolicy: r.raw('coordinator-policy')! } : {}),
    ...(r.raw('mesh-owner') !== undefined ? { meshOwner: r.raw('mesh-owner')! } : {}),
    ...(coordinatorMeasurements.length > 0 ? { coordinatorMeasurements } : {}),
    ...(r.raw('proxy-memory-limit') !== undefined ? { proxyMemoryLimit: r.raw('proxy-memory-limit')! } : {}),
    ...(r.raw('prometheus-annotations') === 'true' ? { prometheusAnnotations: true } : {}),
  };
  const logger = createLogger({ component: 'injector', level: level!, sink: (line) => io.stderr(line + '\n') });
  const registry = createRegistry({ processMetrics: true, defaultLabels: { component: 'injector' } });
  const metrics = createInjectorMetrics(registry);
  const kube = kubeApi !== undefined ? new KubeClient(await serviceAccountConfig(kubeApi, saDir)) : undefined;
  let admin: RunningAdminHttp | undefined;
  const host = r.raw('listen-host') ?? '0.0.0.0';
  try {
    // The admin server binds first: the injector logs "injector ready" (after its caBundle is published) only
    // once every listener of the process is bound, and a busy --metrics-port fails before anything else starts.
    const started: { injector?: RunningInjector } = {};
    const live = (): { ok: boolean; body: string } => ({ ok: true, body: 'live' });
    admin = await startAdminHttp(host, metricsPort!, {
      [ADMIN_HTTP_PATHS.startupProbe]: live,
      [ADMIN_HTTP_PATHS.livenessProbe]: live,
      [ADMIN_HTTP_PATHS.readinessProbe]: () => (started.injector?.isReady() === true ? { ok: true, body: 'ready' } : { ok: false, body: 'not ready: the webhook configuration does not trust the serving CA yet' }),
    }, registry).catch((err: unknown) => { throw listenFailed('--metrics-port', host, metricsPort!, err); });
    logger.info('admin listening', { port: admin.port, paths: Object.values(ADMIN_HTTP_PATHS) });
    const injector = await startInjector(
      {
        server: { host, port: port!, path: INSTALL_NAMES.webhookPath, ...WEBHOOK_SERVER_DEFAULTS },
        inject: injectOpts,
        service: r.raw('service') ?? INSTALL_NAMES.injector,
        namespace: namespace!,
        webhookConfiguration: r.raw('webhook-config') ?? INSTALL_NAMES.webhookConfiguration,
        tlsDir: r.raw('tls-dir'),
        ...(r.raw('ca-secret') !== undefined ? { caSecret: r.raw('ca-secret')! } : {}),
        reloadIntervalMs: reloadMs!,
        shutdownDelayMs: shutdownDelayMs!,
      },
      { logger, metrics, clock: systemClock, kube, ...(io.signal ? { signal: io.signal } : {}) },
    ).catch((err: unknown) => { throw systemErrorCode(err) === 'EADDRINUSE' || systemErrorCode(err) === 'EADDRNOTAVAIL' || systemErrorCode(err) === 'EACCES' ? listenFailed('--port', host, port!, err) : err; });
    started.injector = injector;
    const stopped = new Promise<void>((resolve) => {
      if (!io.signal || io.signal.aborted) return resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    // A caBundle failure that retrying can't fix (e.g. missing RBAC) ends the process: the pod's restarts and
    // this message make it visible, where an unready pod alone would not say why.
    const failed = injector.ready.then(() => new Promise<never>(() => undefined), (err: unknown) => err);
    const outcome = await Promise.race([stopped.then(() => undefined), failed]);
    logger.info('injector draining');
    await injector.close();
    if (outcome !== undefined && !(io.signal?.aborted ?? false)) throw outcome;
    logger.info('injector stopped');
    return EXIT.ok;
  } finally {
    await admin?.close();
    await kube?.close();
  }
}
