/** Data-path tunables shared by every listener, fixed at startup. */
import type { TunnelConfig } from '../config.js';

/** Limits of the data path. */
export interface DataPathOptions {
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxConnections: number;
  /** The pooled tunnel between sidecars (`proxy/tunnel/`). */
  readonly tunnel: TunnelConfig;
}

/**
 * Stream buffer bound per socket direction. 64 KiB matches one libuv read and four full TLS records, so a bulk
 * transfer moves in large chunks, while a stalled peer holds at most this much per leg before backpressure.
 */
export const HIGH_WATER_MARK = 64 * 1024;
