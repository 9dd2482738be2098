/**
 * Makes the MutatingWebhookConfiguration trust the serving CA: read it, and unless every webhook already carries
 * our bundle, patch them all. Retries with capped exponential backoff (the configuration may not exist yet during
 * an install, the API server may be briefly unavailable, a concurrent writer may conflict); an authorisation
 * error (401/403) is not retried: it needs an RBAC fix, and the message says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import type { InjectorMetrics } from './metrics.js';

/** Backoff bounds for {@link syncCaBundle}. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Default backoff: 250 ms doubling to 15 s. */
export const DEFAULT_BACKOFF: Backoff = Object.freeze({ initialMs: 250, maxMs: 15_000 });

/** What {@link syncCaBundle} needs at run time. */
export interface CaBundleRuntime {
  readonly client: Pick<KubeClient, 'getWebhooks' | 'patchCaBundle'>;
  readonly logger: Logger;
  readonly metrics?: InjectorMetrics;
  readonly signal?: AbortSignal;
  readonly backoff?: Backoff;
}

/** Result of one successful sync. */
export type CaBundleSync = 'patched' | 'unchanged';

/**
 * How the bundle to publish follows from what is published (PEM of every webhook's caBundle, concatenated;
 * undefined when none has one): the shared CA Secret's replicas merge, so a replica never drops a CA another added.
 */
export type CaBundleMerge = (publishedPem: string | undefined) => string;

/**
 * Sets the caBundle of every webhook in configuration `name` to `caPem` — or, given a {@link CaBundleMerge}, to
 * what it makes of the bundles just read, patched only if none changed since (a `test` of each: compare-and-swap,
 * retried on 422); resolves once the API server holds it. Rejects with a {@link KubeApiError} that is not
 * retryable (e.g. 403), or with the abort reason.
 */
export async function syncCaBundle(name: string, caPem: string | CaBundleMerge, rt: CaBundleRuntime): Promise<CaBundleSync> {
  const backoff = rt.backoff ?? DEFAULT_BACKOFF;
  let delay = backoff.initialMs;
  for (let attempt = 1; ; attempt++) {
    rt.signal?.throwIfAborted();
    try {
      const hooks = await rt.client.getWebhooks(name);
      if (hooks.length === 0) throw new KubeApiError(`mutatingwebhookconfiguration ${name} has no webhooks yet`, 404);
      const published = hooks.some((h) => h.caBundle !== undefined) ? hooks.map((h) => Buffer.from(h.caBundle ?? '', 'base64').toString('utf8')).join('') : undefined;
      const bundle = Buffer.from(typeof caPem === 'string' ? caPem : caPem(published)).toString('base64');
      if (hooks.every((h) => h.caBundle === bundle)) {
        rt.metrics?.caBundlePatches.labels('unchanged').inc();
        // A merging caller re-checks every minute: that is no news.
        if (typeof caPem === 'string') rt.logger.info('webhook caBundle already current', { configuration: name, webhooks: hooks.length });
        else rt.logger.debug('webhook caBundle already current', { configuration: name, webhooks: hooks.length });
        return 'unchanged';
      }
      await rt.client.patchCaBundle(name, hooks, bundle, typeof caPem !== 'string');
      rt.metrics?.caBundlePatches.labels('ok').inc();
      rt.logger.info('webhook caBundle patched', { configuration: name, webhooks: hooks.length, attempt });
      return 'patched';
    } catch (err) {
      rt.metrics?.caBundlePatches.labels('error').inc();
      if (err instanceof KubeApiError && !err.retryable) {
        const hint = err.status === 401 || err.status === 403
          ? ` (the injector's service account needs get and patch on mutatingwebhookconfigurations/${name})`
          : '';
        throw new KubeApiError(`${err.message}${hint}`, err.status, { cause: err });
      }
      if (!(err instanceof KubeApiError)) throw err;
      rt.logger.warn('webhook caBundle patch failed; retrying', { configuration: name, attempt, status: err.status, error: describeError(err), retryInMs: delay });
    }
    await sleep(delay, undefined, rt.signal ? { signal: rt.signal } : {}).catch((err: unknown) => {
      rt.signal?.throwIfAborted(); // rejects with the abort reason rather than a generic AbortError
      throw err;
    });
    delay = Math.min(delay * 2, backoff.maxMs);
  }
}
