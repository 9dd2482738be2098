/** The physical limit: the load generator talks to the app server with no sidecars at all. */
import type { PeerAdapter, RunningPeer } from './peer.js';

/** The direct path (no proxies). */
export const directPeer: PeerAdapter = {
  name: 'direct',
  availability: () => Promise.resolve({ ok: true, version: 'no proxy' }),
  start(ports): Promise<RunningPeer> {
    return Promise.resolve({ pids: [], target: { h1: ports.upstreamH1, h2: ports.upstreamH2 }, stop: () => Promise.resolve() });
  },
};
