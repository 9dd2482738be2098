/**
 * The transparent-capture stages of startup (DESIGN §4), supplied by the iptables unit when it exists. The proxy
 * runs them in order after its listeners are up; with `--no-iptables` none is run. Each stage either resolves or
 * throws — a throw aborts startup, leaving the guard installed (fail closed).
 */

/** Optional stages, in the order they run. */
export interface TransparentHooks {
  /** Starts the transparent listeners (15006 mTLS, 15007 TLS-only, 15001 outbound). */
  readonly startTransparentListeners?: () => Promise<{ stopAccepting(): Promise<void> }[]>;
  /** iptables-restore of the planned rules. */
  readonly applyRules?: () => Promise<void>;
  /** Reads the rules back and compares them with the plan. */
  readonly verifyRules?: () => Promise<void>;
  /** Drops non-loopback connections that predate the rules. */
  readonly dropPreexisting?: () => Promise<void>;
  /** Removes the initializer's inbound guard. */
  readonly liftGuard?: () => Promise<void>;
  /** Starts the watchdog; `onDrift` marks the sidecar unready (the watchdog re-installs the guard itself). */
  readonly startWatchdog?: (onDrift: (reason: string) => void) => { stop(): void };
}
