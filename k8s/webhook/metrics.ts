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
  /** Self-managed serving leaf renewals (same CA) by result: `ok`, or `error` when a renewal check failed. */
  readonly servingCertRenewals: Counter<'result'>;
  /** Self-managed CA rotations completed: a leaf of the new CA served after the overlap. */
  readonly servingCaRotations: Counter;
  /** notAfter (Unix seconds) of the serving leaf in use, whichever mode made it. */
  readonly servingCertExpiry: Gauge;
}

/** Registers the injector's metrics on `registry`. */
export function createInjectorMetrics(registry: Registry): InjectorMetrics {
  const registers = [registry];
  const m: InjectorMetrics = {
    requests: new Counter({ name: 'ccmesh_injector_requests_total', help: 'AdmissionReview requests answered, by result', labelNames: ['result'], registers }),
    requestSeconds: new Histogram({ name: 'ccmesh_injector_request_duration_seconds', help: 'Time from request body received to answer sent', buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
    caBundlePatches: new Counter({ name: 'ccmesh_injector_ca_bundle_patches_total', help: 'Attempts to set the webhook configuration caBundle, by result', labelNames: ['result'], registers }),
    ready: new Gauge({ name: 'ccmesh_injector_ready', help: '1 when the webhook is trusted by its configuration and serving', registers }),
    servingCertRenewals: new Counter({ name: 'ccmesh_injector_serving_cert_renewals_total', help: 'Self-managed serving certificate renewals from the same CA, by result (ok, error: a renewal check failed and is retried)', labelNames: ['result'], registers }),
    servingCaRotations: new Counter({ name: 'ccmesh_injector_serving_ca_rotations_total', help: 'Self-managed serving CA rotations completed (a leaf of the new CA served after the caBundle overlap)', registers }),
    servingCertExpiry: new Gauge({ name: 'ccmesh_injector_serving_cert_expiry_timestamp_seconds', help: 'notAfter of the serving certificate in use, in Unix seconds', registers }),
  };
  for (const r of REQUEST_RESULTS) m.requests.labels(r).inc(0);
  for (const r of ['ok', 'unchanged', 'error']) m.caBundlePatches.labels(r).inc(0);
  for (const r of ['ok', 'error']) m.servingCertRenewals.labels(r).inc(0);
  m.servingCaRotations.inc(0);
  return m;
}
