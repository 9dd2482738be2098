/**
 * Peer recovery: while its Coordinator is in recovery, a replica looks for ready peers (`--peers HOST:PORT,…`; a DNS
 * name may resolve to several addresses, as the headless Service of a StatefulSet does), and asks each ready one for
 * the seed (`Coordinator.recoverFromPeer`, which judges the answer). Rounds repeat with exponential backoff and jitter
 * until the replica is ready; each round is logged with what every peer said, counted per attempt in
 * ccmesh_coordinator_peer_recoveries_total, and reported through GetManifests (`recoveryStatus`, `readyPeers`).
 *
 * A peer is "ready" when it answers GetTrustBundle (only a ready Coordinator does). A replica that finds itself among
 * the addresses (the headless Service lists every pod) sees itself not ready and moves on.
 */
import { lookup } from 'node:dns/promises';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { parseAddress, PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods } from '../../lib/protocol/messages.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { type Coordinator, PeerRecoveryFailure } from '../core/coordinator.js';
import type { CoordinatorMetrics, PeerRecoveryResult } from '../metrics.js';

/** Where the peers are and how often to look. */
export interface PeerRecoveryConfig {
  /** `host:port` of the peers' mesh API; a host may be a DNS name with several addresses. */
  readonly peers: readonly string[];
  /** First wait between rounds (default 1 s); doubles up to {@link maxBackoffMs}. */
  readonly minBackoffMs?: number;
  /** Longest wait between rounds (default 10 s: a few cheap calls per peer, and a restarted mesh heals soon after one "ccmesh recover"). */
  readonly maxBackoffMs?: number;
  /** How long to wait for a peer's answer (default 10 s). */
  readonly callTimeoutMs?: number;
}

/** Live handles of peer recovery. */
export interface PeerRecoveryRuntime {
  readonly core: Coordinator;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
  /** Host → addresses (default: the system resolver, every address). */
  readonly resolve?: (host: string) => Promise<readonly string[]>;
}

const MAX_LOGGED_OUTCOMES = 8;

/** Runs peer recovery in the background until stopped. */
export class PeerRecovery {
  readonly #cfg: Required<PeerRecoveryConfig>;
  readonly #rt: PeerRecoveryRuntime;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(cfg: PeerRecoveryConfig, rt: PeerRecoveryRuntime) {
    this.#cfg = { minBackoffMs: 1000, maxBackoffMs: 10_000, callTimeoutMs: 10_000, ...cfg };
    this.#rt = rt;
  }

  /** Starts the background loop (idle while the Coordinator is fresh or ready). */
  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => this.#rt.logger.error('peer recovery stopped by a fault', { err }));
  }

  /** Stops the loop and waits for the round in progress (bounded by the call timeout). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { core } = this.#rt;
    let backoff = this.#cfg.minBackoffMs;
    let round = 0;
    while (!this.#stop.signal.aborted) {
      if (core.state !== 'recovery') {
        backoff = this.#cfg.minBackoffMs;
        await this.#sleep(Math.min(500, this.#cfg.minBackoffMs));
        continue;
      }
      round++;
      const { addresses, problems } = await this.#resolveAll();
      const outcomes: string[] = [...problems];
      let ready = 0;
      for (const address of addresses) {
        if (this.#stop.signal.aborted || core.state !== 'recovery') break;
        const attempt = await this.#try(address);
        if (attempt.ready) ready++;
        outcomes.push(`${address}: ${attempt.outcome}`);
      }
      if (core.state !== 'recovery') {
        core.reportPeerRecovery({ text: outcomes.at(-1) ?? '', readyPeers: ready });
        continue;
      }
      const retryMs = Math.round(backoff * (0.75 + Math.random() * 0.5));
      const text = `waiting for a ready peer to recover from (round ${round}: ${ready} of ${addresses.length} peer addresses ready; next try in ${(retryMs / 1000).toFixed(1)} s): ${outcomes.slice(0, MAX_LOGGED_OUTCOMES).join('; ') || 'no peer addresses'}`;
      core.reportPeerRecovery({ text, readyPeers: ready });
      this.#rt.logger.info('peer recovery: no peer could share the seed; retrying', { round, addresses: addresses.length, readyPeers: ready, outcomes: outcomes.slice(0, MAX_LOGGED_OUTCOMES), retryInMs: retryMs });
      await this.#sleep(retryMs);
      backoff = Math.min(backoff * 2, this.#cfg.maxBackoffMs);
    }
  }

  /** One peer: is it ready, and if so, does it share a seed this replica accepts? */
  async #try(address: string): Promise<{ ready: boolean; outcome: string }> {
    const { core, logger, metrics } = this.#rt;
    let client: PinnedClient<MeshApiMethods>;
    try {
      client = await PinnedClient.connect(address, MeshApi, this.#cfg.callTimeoutMs);
    } catch (err) {
      return { ready: false, outcome: `unreachable (${messageOf(err)})` };
    }
    try {
      try {
        await client.call('GetTrustBundle', {}, this.#cfg.callTimeoutMs);
      } catch (err) {
        return { ready: false, outcome: `not ready (${messageOf(err)})` };
      }
      let result: PeerRecoveryResult = 'recovered';
      try {
        await core.recoverFromPeer({
          address,
          tlsSpki: client.spki,
          nonce: () => client.nonce(),
          shareSeed: (req) => client.call('ShareSeed', req, this.#cfg.callTimeoutMs),
        });
      } catch (err) {
        result = resultOf(err);
        metrics.peerRecoveries.inc({ result });
        logger.warn('peer recovery: a ready peer\'s seed was not obtained', { peer: address, result, reason: messageOf(err) });
        return { ready: true, outcome: `${result} (${messageOf(err)})` };
      }
      if (core.state !== 'ready') return { ready: true, outcome: 'the Coordinator left recovery meanwhile' };
      metrics.peerRecoveries.inc({ result });
      logger.info('peer recovery: recovered the seed from a ready peer replica', { peer: address });
      return { ready: true, outcome: 'recovered from this peer' };
    } finally {
      client.close();
    }
  }

  async #resolveAll(): Promise<{ addresses: string[]; problems: string[] }> {
    const addresses = new Set<string>();
    const problems: string[] = [];
    const resolve = this.#rt.resolve ?? (async (host: string) => (await lookup(host, { all: true })).map((a) => a.address));
    for (const peer of this.#cfg.peers) {
      const { host, port } = parseAddress(peer);
      try {
        const ips = /^[\d.]+$/.test(host) || host.includes(':') ? [host] : await resolve(host);
        for (const ip of ips) addresses.add(ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
      } catch (err) {
        problems.push(`${peer}: does not resolve (${messageOf(err)})`);
      }
    }
    return { addresses: [...addresses], problems };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stop.signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.#stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stop.signal.addEventListener('abort', done, { once: true });
    });
  }
}

function resultOf(err: unknown): Exclude<PeerRecoveryResult, 'recovered'> {
  if (err instanceof PeerRecoveryFailure) return err.result;
  if (err instanceof CcmeshError && err.code === ErrorCode.COORDINATOR_UNREACHABLE) return 'unreachable';
  if (err instanceof CcmeshError && err.code === ErrorCode.COORDINATOR_REFUSED) return 'refused';
  return 'error';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
