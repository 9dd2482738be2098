/**
 * Runs a pinned app probe (lib/mesh-config/app-probe.ts) against the app on loopback and answers kubelet with the
 * outcome only: 200 when the app answered 2xx/3xx (or accepted the TCP connection), else 503.
 *
 * SECURITY: the admin port is plaintext and the host (the attacker) can call it. The answer carries nothing from the
 * app — no status code, header or body byte — only a word from a closed set, so the path can't be used to read the
 * app through the sidecar. The target is fixed by the pinned probe: 127.0.0.1, its port, its path and headers; the
 * kubelet's request contributes nothing but the choice among the configured paths. Concurrent calls for one probe
 * share a single check in flight, so calling the path in a loop opens at most one connection to the app per probe.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { ProbeAnswer } from '../../lib/http/admin-server.js';
import { appProbePath, type AppProbe } from '../../lib/mesh-config/app-probe.js';

/** The loopback address the sidecar probes the app on. */
export const APP_PROBE_HOST = '127.0.0.1';

/** The answers, a closed set (never anything the app sent). */
export const APP_PROBE_ANSWERS = Object.freeze({
  ok: { ok: true, body: 'app probe passed' },
  status: { ok: false, body: 'app probe failed: error status' },
  unreachable: { ok: false, body: 'app probe failed: app unreachable' },
  timeout: { ok: false, body: 'app probe failed: timeout' },
} as const satisfies Record<string, ProbeAnswer>);

/** The `result` label of `ccmesh_proxy_app_probe_total`: which answer a check gave (a closed set, like the answers). */
export type AppProbeResult = keyof typeof APP_PROBE_ANSWERS;

/** Every {@link AppProbeResult}, so each series of a configured probe exists (at 0) from startup. */
export const APP_PROBE_RESULTS: readonly AppProbeResult[] = Object.keys(APP_PROBE_ANSWERS) as AppProbeResult[];

/** Counts app probe checks; `container` and `kind` are always a pinned probe's, never from the request. */
export interface AppProbeCounter {
  labels(container: string, kind: string, result: AppProbeResult): { inc(n?: number): void };
}

/** Runs `p` once. `host` is for tests only; the sidecar always probes {@link APP_PROBE_HOST}. */
export function runAppProbe(p: AppProbe, host: string = APP_PROBE_HOST): Promise<ProbeAnswer> {
  return new Promise<ProbeAnswer>((resolve) => {
    let done = false;
    let cleanup = (): void => {};
    const finish = (a: ProbeAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve(a);
    };
    const timer = setTimeout(() => finish(APP_PROBE_ANSWERS.timeout), p.timeoutSeconds * 1000);
    const c = p.check;
    if (c.type === 'tcp') {
      const socket = connect({ host, port: c.port });
      cleanup = () => socket.destroy();
      socket.once('connect', () => finish(APP_PROBE_ANSWERS.ok));
      socket.once('error', () => finish(APP_PROBE_ANSWERS.unreachable));
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of c.headers) headers[h.name] = h.value;
    const options = { host, port: c.port, path: c.path, method: 'GET', headers, agent: false as const };
    const onResponse = (res: IncomingMessage): void => {
      const code = res.statusCode ?? 0;
      // The body is never read: the request is destroyed as soon as the status line is in.
      finish(code >= 200 && code < 400 ? APP_PROBE_ANSWERS.ok : APP_PROBE_ANSWERS.status);
    };
    // kubelet does not verify an HTTPS probe's certificate either; this connection stays on the pod's loopback.
    const req: ClientRequest = c.scheme === 'HTTPS' ? httpsRequest({ ...options, rejectUnauthorized: false }, onResponse) : httpRequest(options, onResponse);
    cleanup = () => req.destroy();
    req.once('error', () => finish(APP_PROBE_ANSWERS.unreachable));
    req.end();
  });
}

/**
 * The admin handlers of `probes`, by admin path: each runs its probe, sharing one check in flight among concurrent
 * calls. `counter` counts each check run (not each kubelet call that shared it) by the probe's pinned container and
 * kind and its result; the children are bound here, from the configuration, so a request can't add a series.
 */
export function appProbeHandlers(probes: readonly AppProbe[], host: string = APP_PROBE_HOST, counter?: AppProbeCounter): Record<string, () => Promise<ProbeAnswer>> {
  const handlers: Record<string, () => Promise<ProbeAnswer>> = {};
  for (const probe of probes) {
    const byAnswer = new Map<ProbeAnswer, { inc(n?: number): void }>();
    if (counter !== undefined) {
      for (const r of APP_PROBE_RESULTS) {
        const child = counter.labels(probe.container, probe.kind, r);
        child.inc(0);
        byAnswer.set(APP_PROBE_ANSWERS[r], child);
      }
    }
    let inFlight: Promise<ProbeAnswer> | undefined;
    const handler = (): Promise<ProbeAnswer> => {
      inFlight ??= runAppProbe(probe, host).then((answer) => {
        byAnswer.get(answer)?.inc();
        return answer;
      }).finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    };
    handlers[appProbePath(probe.container, probe.kind)] = handler;
  }
  return handlers;
}
