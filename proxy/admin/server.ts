/**
 * The admin server (port 15020): `/live` (the process answers), `/ready` (200 only while the sidecar should get
 * traffic — see {@link Readiness}), `/metrics`, and `/app-health/<container>/<kind>` for each pinned app probe
 * (`--app-probe`, see app-probe.ts). Nothing else is served, and it never touches the data path.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { type MetricsSource, type RunningAdminHttp, startAdminHttp } from '../../lib/http/admin-server.js';
import type { AppProbe } from '../../lib/mesh-config/app-probe.js';
import { SIDECAR_ADMIN_PATHS } from '../../lib/mesh-ports.js';
import { appProbeHandlers, type AppProbeCounter } from './app-probe.js';

export type { MetricsSource };

/** What /ready reports: undefined when ready, else a short reason from a closed set. */
export interface Readiness {
  notReadyReason(): string | undefined;
}

/** A running admin server. */
export type RunningAdmin = RunningAdminHttp;

/**
 * Starts the admin server on host:port; `appProbes` are run against the app on loopback and counted on
 * `appProbeCounter` (`appProbeHost`: tests only).
 */
export function startAdminServer(host: string, port: number, readiness: Readiness, registry: MetricsSource, appProbes: readonly AppProbe[] = [], appProbeHost?: string, appProbeCounter?: AppProbeCounter): Promise<RunningAdmin> {
  return startAdminHttp(
    host,
    port,
    {
      ...appProbeHandlers(appProbes, appProbeHost, appProbeCounter),
      [SIDECAR_ADMIN_PATHS.live]: () => ({ ok: true, body: 'alive' }),
      [SIDECAR_ADMIN_PATHS.ready]: () => {
        const reason = readiness.notReadyReason();
        return reason === undefined ? { ok: true, body: 'ready' } : { ok: false, body: `not ready: ${reason}` };
      },
    },
    registry,
  ).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    throw new CcmeshError(ErrorCode.PROXY_LISTEN_FAILED, `admin server: listening on ${host}:${port}: ${message}`, { cause: err });
  });
}
