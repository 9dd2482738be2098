/**
 * The iptables stages of startup (docs/design.md §4), supplied by the entry (`cli/commands/proxy.ts` builds them from the
 * iptables unit; the proxy never imports it). The proxy runs them in order after its transparent listeners are up;
 * with `--no-iptables` none is run. Each stage either resolves or throws — a throw aborts startup, leaving the
 * initializer's guard installed (fail closed).
 */
import type { GuardState } from '../metrics.js';

/** What the watchdog reports back to the proxy. */
export interface WatchdogEvents {
  /** Drift (or a failed check): the guard was (re-)installed first; the proxy goes unready for good. */
  drift(reason: string): void;
  /** The guard state changed as seen by the watchdog (`installed`, or `install-failed` when it could not). */
  guard(state: GuardState): void;
}

/** Optional stages, in the order they run. */
export interface TransparentHooks {
  /** iptables-restore of the planned rules. */
  readonly applyRules?: () => Promise<void>;
  /** Reads the rules back and compares them with the plan; throws on any difference. */
  readonly verifyRules?: () => Promise<void>;
  /** Drops non-loopback connections that predate the rules (none needed when the rules already cut them). */
  readonly dropPreexisting?: () => Promise<void>;
  /** Removes the initializer's inbound guard. */
  readonly liftGuard?: () => Promise<void>;
  /** Starts the watchdog for the life of the process. */
  readonly startWatchdog?: (events: WatchdogEvents) => { stop(): void };
}
