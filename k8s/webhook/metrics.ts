/** The injector's Prometheus metrics, registered on the process registry; labels come from closed sets only. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AdmissionOutcome } from './admission.js';

/** `result` label of a request: an admission outcome, or why there was no answer. */
export type RequestResult = AdmissionOutcome | 'malformed' | 'error';

/** Every value of {@link RequestResult}, so each series exists (at 0) from startup. */
export const REQUEST_RESULTS: readonly RequestResult[] = ['injected', 'unchanged', 'pinned', 'skipped', 'refused', 'policy-refused', 'malformed', 'error'];

/** Injector metrics. */
export interface InjectorMetrics {
  readonly requests: Counter<'result'>;
  readonly requestSeconds: Histogram;
  readonly caBundlePatches: Counter<'result'>;
  /** 1 once the serving certificate is trusted by the webhook configuration (or no patch is needed). */
  readonly ready: Gauge;
}

/** Registers the injector's metrics on `registry`. */
export function createInjectorMetrics(registry: Registry): InjectorMetrics {
  const registers = [registry];
  const m: InjectorMetrics = {
    requests: new Counter({ name: 'ccmesh_injector_requests_total', help: 'AdmissionReview requests answered, by result', labelNames: ['result'], registers }),
    requestSeconds: new Histogram({ name: 'ccmesh_injector_request_duration_seconds', help: 'Time from request body received to answer sent', buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
    caBundlePatches: new Counter({ name: 'ccmesh_injector_ca_bundle_patches_total', help: 'Attempts to set the webhook configuration caBundle, by result', labelNames: ['result'], registers }),
    ready: new Gauge({ name: 'ccmesh_injector_ready', help: '1 when the webhook is trusted by its configuration and serving', registers }),
  };
  for (const r of REQUEST_RESULTS) m.requests.labels(r).inc(0);
  for (const r of ['ok', 'unchanged', 'error']) m.caBundlePatches.labels(r).inc(0);
  return m;
}
