/**
 * The iptables stages of `ccmesh proxy` (docs/design.md §4.2), composed here at the entry because the proxy and iptables
 * units never import each other: flags → {@link IptablesConfig} (the same parser as `ccmesh iptables`) → plan →
 * {@link TransparentHooks} (apply → verify → lift guard, then the watchdog) over a real {@link Executor}.
 */
import { CcmeshError, ConfigError, describeError, ErrorCode } from '../../lib/errors.js';
import { FieldReader, type RawSource } from '../../lib/config/fields.js';
import type { Logger } from '../../lib/log.js';
import { applyPlan, resolveFamilies, verifyPlan, type FamilyTools } from '../../iptables/apply.js';
import { parseIptablesConfig } from '../../iptables/config.js';
import { verifyCapture } from '../../iptables/coverage.js';
import type { Executor } from '../../iptables/executor.js';
import { installGuard, liftGuard } from '../../iptables/guard.js';
import { buildPlan, type Plan } from '../../iptables/plan.js';
import { formatReport } from '../../iptables/verify.js';
import { startWatchdog, type Timers } from '../../iptables/watchdog.js';
import type { TransparentHooks } from '../../proxy/startup/hooks.js';

/** What the capture stages are built from. */
export interface CaptureConfig {
  readonly plan: Plan;
  readonly watchdogIntervalMs: number;
}

/** Default re-verification interval of the watchdog. */
export const WATCHDOG_DEFAULT_MS = 10_000;

/**
 * Reads the capture settings from the proxy's flag values into `r`'s issue list. The ingress grammar is parsed by
 * the proxy config as well, so its grammar issues (`--ingress[i]`) are reported once, by the proxy reader. With
 * `--egress-capture` the process must run as the plan's proxy uid (`uid`, default: this process's).
 */
export function readCaptureConfig(r: FieldReader, values: RawSource, uid: number | undefined = process.getuid?.()): CaptureConfig {
  const own = new FieldReader('capture flags', values, '--');
  const config = parseIptablesConfig(own);
  try {
    own.finish();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const i of err.issues) if (!i.field.startsWith('--ingress[')) r.issue(i.field.replace(/^--/, ''), i.value, i.expected);
  }
  if (config.egressCapture && uid !== config.proxyUid) {
    // SECURITY: the plan exempts the proxy's own connections from egress capture by uid only. Under any other uid
    // the sidecar's mTLS connection to a captured address would be captured again by its own outbound listener (a
    // loop that ends only when file descriptors run out), so refuse instead of starting.
    r.issue('egress-capture', r.raw('egress-capture'), `the sidecar to run as uid ${config.proxyUid} (PROXY_UID; it runs as uid ${uid ?? 'unknown'}): the capture rules exempt only that uid's own connections`);
  }
  const interval = r.duration('watchdog-interval', WATCHDOG_DEFAULT_MS) ?? WATCHDOG_DEFAULT_MS;
  if (interval < 100) r.issue('watchdog-interval', r.raw('watchdog-interval'), 'a duration of at least 100ms');
  return { plan: buildPlan(config), watchdogIntervalMs: interval };
}

/** Builds the iptables stages over `exec` (the real one runs iptables in the sidecar's own namespace). */
export function buildCaptureHooks(cfg: CaptureConfig, exec: Executor, logger: Logger, timers?: Timers): TransparentHooks {
  let families: FamilyTools | undefined;
  const resolved = async (): Promise<FamilyTools> => (families ??= await resolveFamilies(exec, cfg.plan.ipv6));
  return {
    applyRules: async () => {
      const f = await resolved();
      await applyPlan(exec, cfg.plan, f);
      logger.info('capture rules applied', { families: [...f.keys()] });
    },
    verifyRules: async () => {
      const report = await verifyPlan(exec, cfg.plan, await resolved());
      // SECURITY: any difference at all stops startup; the guard stays and the pod stays closed.
      if (!report.ok) throw new CcmeshError(ErrorCode.IPTABLES_APPLY, `the rules read back differ from the plan; not lifting the guard\n${formatReport(report)}`);
    },
    // No dropPreexisting stage: the plan's admitted-mark DROP (docs/iptables.md) already cuts every non-loopback
    // flow that predates `applyRules`, from the moment the rules are in; verifyRules proved that rule is present.
    // SECURITY: only the families that have capture rules are opened; the others keep the guard (--ipv6 off).
    liftGuard: async () => liftGuard(exec, new Set((await resolved()).keys())),
    startWatchdog: (events) => {
      const ac = new AbortController();
      startWatchdog({
        // The rules, and that no family appeared (or lost its guard) without rules since startup.
        verify: async () => verifyCapture(exec, cfg.plan, await resolved()),
        installGuard: async () => {
          await installGuard(exec);
          events.guard('installed');
        },
        onUnready: (report) => events.drift(report.ok ? 'drift' : formatReport(report).trim()),
        onRecovered: () => logger.warn('iptables rules intact again; staying unready until restart'),
        onGuardFailed: (err) => {
          events.guard('install-failed');
          logger.error('watchdog could not install the guard; the pod may be open', { err: describeError(err) });
        },
        intervalMs: cfg.watchdogIntervalMs,
        signal: ac.signal,
        ...(timers ? { timers } : {}),
      });
      return { stop: () => ac.abort() };
    },
  };
}
