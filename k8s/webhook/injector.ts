/**
 * The injector unit: obtain serving credentials (self-managed or from a directory), serve the webhook, make the
 * webhook configuration trust the CA, and only then report ready. With `--tls-dir` the files are polled and a
 * change is adopted without a restart; a new CA is added to the caBundle (next to the old one) before the server
 * switches to it, so the API server never sees a certificate it doesn't trust yet.
 */
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { inject, type InjectOptions } from '../inject/inject.js';
import { reviewAdmission } from './admission.js';
import { syncCaBundle, type Backoff, type CaBundleMerge } from './ca-bundle.js';
import type { KubeClient } from './kube-client.js';
import type { InjectorMetrics } from './metrics.js';
import { checkCredentials, startWebhookServer, type WebhookServerConfig } from './server.js';
import { createSharedCaRotation, parseSharedCaSecret, type SharedCaRotation, type SharedCaView } from './shared-ca.js';
import { certNotAfterMs, createSelfManagedCredentials, createServingCa, credentialsFromSecret, dueForRenewal, issueServingLeaf, loadTlsDir, SELF_MANAGED_LIFETIME_MS, SERVING_LEAF_LIFETIME_MS, serviceDnsNames, TLS_DIR_FILES, type SelfManagedCa, type ServingCredentials } from './serving-cert.js';

/** Plain settings of the injector, parsed at the edge. */
export interface InjectorConfig {
  readonly server: WebhookServerConfig;
  /** Options for `inject` (image, Coordinator address, TEE). */
  readonly inject: Partial<InjectOptions>;
  /** Service and namespace the API server reaches the webhook through (the self-managed certificate's names). */
  readonly service: string;
  readonly namespace: string;
  /** MutatingWebhookConfiguration whose caBundle is managed. */
  readonly webhookConfiguration: string;
  /** Directory with tls.crt, tls.key and optionally ca.crt; undefined = self-managed certificate. */
  readonly tlsDir: string | undefined;
  /**
   * Self-managed, shared: the CA (and a serving certificate) live in this Secret of `namespace`, made by whichever
   * replica starts first and read by every other, so all replicas serve leaves of one CA; they rotate it together
   * through the Secret (shared-ca.ts). Undefined (and no `tlsDir`): a per-process in-memory CA.
   */
  readonly caSecret?: string;
  /** How often `tlsDir` is checked for changes. */
  readonly reloadIntervalMs: number;
  /**
   * How long `close()` keeps serving, unready, before it stops accepting: a terminating pod leaves its Service's
   * endpoints only after the endpoint controller and every node's proxy have caught up, and an AdmissionReview routed
   * to it meanwhile must still be answered (with `failurePolicy: Fail` a refused connection refuses the pod). 0: none.
   */
  readonly shutdownDelayMs?: number;
  /** Lifetimes and check interval of the self-managed CA and leaf (tests shorten them); defaults {@link DEFAULT_ROTATION}. */
  readonly rotation?: Partial<RotationConfig>;
}

/** When self-managed credentials are replaced: each at 2/3 of its life, checked every `checkIntervalMs`. */
export interface RotationConfig {
  readonly caLifetimeMs: number;
  readonly leafLifetimeMs: number;
  readonly checkIntervalMs: number;
  /** How long a new CA is in the published caBundle before a leaf of it is served (API servers re-read it lazily). */
  readonly propagationMs: number;
}

/** Default rotation: a two-year CA, 90-day leaves, checked every minute, a new CA served 5 minutes after publishing. */
export const DEFAULT_ROTATION: RotationConfig = Object.freeze({ caLifetimeMs: SELF_MANAGED_LIFETIME_MS, leafLifetimeMs: SERVING_LEAF_LIFETIME_MS, checkIntervalMs: 60_000, propagationMs: 5 * 60_000 });

/** Live handles of the injector. */
export interface InjectorRuntime {
  readonly logger: Logger;
  readonly metrics: InjectorMetrics;
  readonly clock: Clock;
  /** The API client; undefined when no API is configured (then a CA to publish is a configuration error). */
  readonly kube: Pick<KubeClient, 'getWebhooks' | 'patchCaBundle' | 'getSecret' | 'createSecret' | 'replaceSecret'> | undefined;
  readonly signal?: AbortSignal;
  readonly backoff?: Backoff;
}

/** A running injector. */
export interface RunningInjector {
  readonly port: number;
  /** Resolves once the webhook configuration trusts the serving CA; rejects when that failed for good. */
  readonly ready: Promise<void>;
  isReady(): boolean;
  close(): Promise<void>;
}

/** Labels on the shared CA Secret an injector creates. */
const CA_SECRET_LABELS = Object.freeze({ 'app.kubernetes.io/name': 'ccmesh', 'app.kubernetes.io/component': 'injector' });

/**
 * The credentials of the shared CA Secret: read it; when it does not exist, make a CA and leaf and create it — and
 * when another replica created it first (409), read theirs. Every replica ends up on the same CA, and with the CA's
 * key (`ca.key`) renews its leaf from it and takes part in its rotation (shared-ca.ts). A stored leaf past 2/3 of its
 * life (the Secret's leaf is rewritten only when a CA is promoted) is replaced at once by one of the current CA.
 */
async function sharedCredentials(config: InjectorConfig, rt: InjectorRuntime, rot: RotationConfig, names: readonly string[]): Promise<{ creds: ServingCredentials; view: SharedCaView | undefined }> {
  const name = config.caSecret!;
  const where = `secret ${config.namespace}/${name}`;
  if (rt.kube === undefined) throw new CcmeshError(ErrorCode.USAGE, `the shared serving CA lives in ${where}, but no Kubernetes API is configured (not in a cluster and no --kube-api)`);
  for (let lostRaces = 0; lostRaces < 5;) {
    const existing = await rt.kube.getSecret(config.namespace, name);
    if (existing !== undefined) {
      const view = parseSharedCaSecret(existing, where);
      if (view === undefined) {
        rt.logger.warn('the shared serving CA secret holds no ca.key: the serving certificate is not renewed before it expires', { secret: where });
        return { creds: credentialsFromSecret(existing.data, where), view };
      }
      const stored = credentialsFromSecret(existing.data, where);
      const creds = dueForRenewal(stored.certPem, rt.clock.nowMs()) ? await issueServingLeaf(view.current, names, rt.clock, rot.leafLifetimeMs) : stored;
      return { creds, view };
    }
    const made = await createSelfManagedCredentials(names, rt.clock, rot.caLifetimeMs, rot.leafLifetimeMs);
    const data = { [TLS_DIR_FILES.cert]: made.certPem, [TLS_DIR_FILES.key]: made.keyPem, [TLS_DIR_FILES.ca]: made.caPem!, [TLS_DIR_FILES.caKey]: made.ca.keyPem };
    if (await rt.kube.createSecret(config.namespace, name, data, CA_SECRET_LABELS)) {
      rt.logger.info('created the shared serving CA secret', { secret: where });
      continue; // read back for its resourceVersion, the precondition of a rotation's write
    }
    // Another replica created it between our read and our create: use theirs.
    lostRaces++;
  }
  throw new CcmeshError(ErrorCode.K8S_API, `${where}: neither readable nor creatable after 5 attempts (created and deleted concurrently?)`);
}

/** Starts the injector; resolves once the server listens (readiness follows through `ready`). */
export async function startInjector(config: InjectorConfig, rt: InjectorRuntime): Promise<RunningInjector> {
  const { logger, metrics } = rt;
  // inject checks its options before anything else: a resource it ignores surfaces a bad --image or --coordinator
  // now, as a usage error, instead of as a failure of every admission request.
  inject({ kind: 'ConfigMap' }, config.inject);
  const rot: RotationConfig = { ...DEFAULT_ROTATION, ...config.rotation };
  const names = serviceDnsNames(config.service, config.namespace);
  // The in-memory CA that renews the serving leaf (self-managed, unshared only).
  let ca: SelfManagedCa | undefined;
  // The shared CA Secret as this replica started with it (undefined for a legacy Secret without ca.key: not rotated).
  let sharedView: SharedCaView | undefined;
  let creds: ServingCredentials;
  if (config.tlsDir !== undefined) {
    creds = await loadTlsDir(config.tlsDir);
  } else if (config.caSecret !== undefined) {
    ({ creds, view: sharedView } = await sharedCredentials(config, rt, rot, names));
  } else {
    const made = await createSelfManagedCredentials(names, rt.clock, rot.caLifetimeMs, rot.leafLifetimeMs);
    ca = made.ca;
    creds = { keyPem: made.keyPem, certPem: made.certPem, caPem: made.caPem, fingerprint: made.fingerprint };
  }
  if (creds.caPem !== undefined && rt.kube === undefined) {
    throw new CcmeshError(
      ErrorCode.USAGE,
      `the serving CA must be put into the caBundle of mutatingwebhookconfiguration ${config.webhookConfiguration}, but no Kubernetes API is configured (not in a cluster and no --kube-api)`,
    );
  }
  const serve = (next: ServingCredentials): void => {
    creds = next;
    metrics.servingCertExpiry.set(Math.floor(certNotAfterMs(next.certPem) / 1000));
  };
  serve(creds);
  let ready = false;
  metrics.ready.set(0);
  const server = await startWebhookServer(config.server, creds, { logger, metrics, ready: () => ready, review: (body) => reviewAdmission(body, config.inject) });
  logger.info('webhook listening', { port: server.port, path: config.server.path, credentials: config.tlsDir ?? (config.caSecret !== undefined ? `secret ${config.caSecret}` : 'self-managed') });

  const publish = async (caPem: string | CaBundleMerge | undefined): Promise<void> => {
    if (caPem === undefined) {
      logger.info('no ca.crt supplied: the caBundle is left to whoever issued the certificate', { configuration: config.webhookConfiguration });
      return;
    }
    await syncCaBundle(config.webhookConfiguration, caPem, { client: rt.kube!, logger, metrics, ...(rt.signal ? { signal: rt.signal } : {}), ...(rt.backoff ? { backoff: rt.backoff } : {}) });
  };
  const shared: SharedCaRotation | undefined = sharedView === undefined ? undefined : createSharedCaRotation(
    { namespace: config.namespace, secret: config.caSecret!, names, caLifetimeMs: rot.caLifetimeMs, leafLifetimeMs: rot.leafLifetimeMs, propagationMs: rot.propagationMs },
    {
      kube: rt.kube!, clock: rt.clock, logger, publish,
      serve: (leaf) => {
        server.setCredentials(leaf);
        serve(leaf);
      },
      renewed: () => metrics.servingCertRenewals.labels('ok').inc(),
      rotated: () => metrics.servingCaRotations.inc(),
    },
    { view: sharedView, creds },
  );
  // Shared: merged into what is published (other replicas' CAs stay); otherwise this replica's CA alone.
  const readyPromise = publish(shared !== undefined ? shared.merge() : creds.caPem).then(() => {
    ready = true;
    metrics.ready.set(1);
    logger.info('injector ready');
  });
  // The caller observes failures through `ready`; this keeps an unobserved rejection from crashing the process.
  readyPromise.catch(() => undefined);

  let timer: NodeJS.Timeout | undefined;
  let reloading = false;
  if (config.tlsDir !== undefined) {
    const dir = config.tlsDir;
    timer = setInterval(() => {
      if (reloading) return;
      reloading = true;
      reload(dir).finally(() => {
        reloading = false;
      }).catch(() => undefined);
    }, config.reloadIntervalMs);
  }

  let renewingLeaf = false;
  if (config.tlsDir === undefined && (ca !== undefined || shared !== undefined)) {
    timer = setInterval(() => {
      if (shared !== undefined && !renewingLeaf) {
        renewingLeaf = true;
        shared.renewLeaf().catch((err: unknown) => {
          metrics.servingCertRenewals.labels('error').inc();
          logger.error('serving certificate renewal failed; retrying', { error: describeError(err) });
        }).finally(() => {
          renewingLeaf = false;
        });
      }
      if (reloading) return;
      reloading = true;
      (shared !== undefined ? shared.check() : renew()).catch((err: unknown) => {
        // Retried at the next check; the current leaf is still valid (renewal starts at 2/3 of its life).
        if (shared === undefined) metrics.servingCertRenewals.labels('error').inc();
        logger.error(shared !== undefined ? 'shared serving CA rotation check failed; retrying' : 'serving certificate renewal failed; retrying', { error: describeError(err) });
      }).finally(() => {
        reloading = false;
      });
    }, rot.checkIntervalMs);
  }

  /**
   * Self-managed rotation. The leaf is renewed from the CA at 2/3 of its life (no caBundle change: same CA). The
   * in-memory CA is rotated at 2/3 of its life with an overlap: the caBundle becomes new CA + current CA *before* a
   * leaf of the new CA is served, so the API server trusts every certificate any replica serves meanwhile; the old
   * CA leaves the bundle at the next rotation. The shared Secret's CA rotates across replicas in shared-ca.ts.
   */
  let pending: { readonly ca: SelfManagedCa; readonly bundle: string; readonly servableAtMs: number } | undefined;
  async function renew(): Promise<void> {
    if (ca === undefined) return;
    const now = rt.clock.nowMs();
    if (pending !== undefined && now >= pending.servableAtMs) {
      const leaf = await issueServingLeaf(pending.ca, names, rt.clock, rot.leafLifetimeMs, pending.bundle);
      server.setCredentials(leaf);
      ca = pending.ca;
      serve(leaf);
      pending = undefined;
      metrics.servingCaRotations.inc();
      logger.info('serving CA rotated', { configuration: config.webhookConfiguration });
      return;
    }
    if (pending === undefined && dueForRenewal(ca.certPem, now)) {
      const next = await createServingCa(rt.clock, rot.caLifetimeMs);
      const bundle = next.certPem + ca.certPem;
      await publish(bundle);
      pending = { ca: next, bundle, servableAtMs: rt.clock.nowMs() + rot.propagationMs };
      logger.info('new serving CA published next to the current one', { configuration: config.webhookConfiguration, servableInMs: rot.propagationMs });
    }
    if (!dueForRenewal(creds.certPem, now)) return;
    const leaf = await issueServingLeaf(ca, names, rt.clock, rot.leafLifetimeMs, creds.caPem);
    server.setCredentials(leaf);
    serve(leaf);
    metrics.servingCertRenewals.labels('ok').inc();
    logger.info('serving certificate renewed', { configuration: config.webhookConfiguration });
  }

  async function reload(dir: string): Promise<void> {
    let next: ServingCredentials;
    try {
      next = await loadTlsDir(dir);
      if (next.fingerprint === creds.fingerprint) return;
      checkCredentials(next);
    } catch (err) {
      // Half-written Secret updates are normal for a moment; keep serving the old credentials.
      logger.warn('serving credentials unusable; keeping the current ones', { dir, error: describeError(err) });
      return;
    }
    try {
      if (next.caPem !== undefined && next.caPem !== creds.caPem) {
        await publish(creds.caPem !== undefined ? next.caPem + creds.caPem : next.caPem);
      }
    } catch (err) {
      logger.error('could not publish the new CA; keeping the current credentials', { error: err });
      return;
    }
    server.setCredentials(next);
    serve(next);
    logger.info('serving credentials reloaded', { dir });
  }

  return {
    port: server.port,
    ready: readyPromise,
    isReady: () => ready,
    close: async () => {
      ready = false;
      metrics.ready.set(0);
      if ((config.shutdownDelayMs ?? 0) > 0) {
        logger.info('injector draining: still serving while the Service stops routing here', { delayMs: config.shutdownDelayMs });
        await new Promise<void>((resolve) => setTimeout(resolve, config.shutdownDelayMs));
      }
      if (timer) clearInterval(timer);
      await server.close();
    },
  };
}
