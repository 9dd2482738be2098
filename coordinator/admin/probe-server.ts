/**
 * Probes and metrics on their own port (9102): /probe/startup, /probe/liveness (never depends on the store), and
 * /probe/readiness (200 only in the ready state), plus /metrics. Nothing else is served there.
 */
import type { Registry } from 'prom-client';
import { type RunningAdminHttp, startAdminHttp } from '../../lib/http/admin-server.js';
import { ADMIN_HTTP_PATHS } from '../../lib/mesh-ports.js';

/** What the probes read. */
export interface ProbeSource {
  started(): boolean;
  ready(): boolean;
  /** Short state name for the readiness body ("fresh", "recovery", "ready"). */
  stateName(): string;
}

/** Starts the probe server on host:port; resolves when listening. */
export function startProbeServer(host: string, port: number, source: ProbeSource, registry: Registry): Promise<RunningAdminHttp> {
  return startAdminHttp(
    host,
    port,
    {
      [ADMIN_HTTP_PATHS.startupProbe]: () => (source.started() ? { ok: true, body: 'started' } : { ok: false, body: 'starting' }),
      [ADMIN_HTTP_PATHS.livenessProbe]: () => ({ ok: true, body: 'alive' }),
      [ADMIN_HTTP_PATHS.readinessProbe]: () => (source.ready() ? { ok: true, body: 'ready' } : { ok: false, body: `not ready: ${source.stateName()}` }),
    },
    registry,
  );
}
