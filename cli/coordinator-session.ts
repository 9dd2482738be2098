/**
 * Connecting to a Coordinator as a person does: wait (with progress and backoff) until it answers, pin its TLS
 * key, and check its evidence against the local manifest's coordinator policy before sending anything that
 * matters. The result is a client whose every call goes to the attested Coordinator.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { EvidenceChecker } from '../coordinator/attestation/evidence-check.js';
import type { Manifest } from '../coordinator/manifest/types.js';
import { CcmeshError, describeError, ErrorCode } from '../lib/errors.js';
import { coordinatorReportData } from '../lib/protocol/binding.js';
import { PinnedClient } from '../lib/protocol/client.js';
import { NONCE_LENGTH, readEvidence } from '../lib/protocol/messages.js';
import { b64, WireReader } from '../lib/protocol/wire.js';
import type { CliIo } from './io.js';

/** Options of {@link attestedSession}. */
export interface SessionOptions {
  /** Give up waiting for the Coordinator after this long (default 120 s). */
  readonly waitMs?: number;
  readonly io: CliIo;
}

/** Connects to `address`, waiting while it is unreachable, then verifies it is a Coordinator of `manifest`. */
export async function attestedSession(address: string, service: ServiceDefinition, manifest: Manifest, opts: SessionOptions): Promise<PinnedClient> {
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    let client: PinnedClient | undefined;
    try {
      client = await PinnedClient.connect(address, service);
      await verifyCoordinator(client, manifest);
      return client;
    } catch (err) {
      client?.close();
      const unreachable = err instanceof CcmeshError && err.code === ErrorCode.COORDINATOR_UNREACHABLE;
      if (!unreachable || Date.now() + delay > deadline) throw err;
      opts.io.stderr(`waiting for the Coordinator at ${address} (attempt ${attempt}: ${describeError(err)}); retrying in ${(delay / 1000).toFixed(1)} s\n`);
      await new Promise((r) => setTimeout(r, delay));
      if (opts.io.signal?.aborted) throw new CcmeshError(ErrorCode.COORDINATOR_UNREACHABLE, 'interrupted while waiting for the Coordinator');
      delay = Math.min(delay * 2, 5000) * (0.8 + Math.random() * 0.4);
    }
  }
}

/** Asks the pinned Coordinator for evidence over a fresh nonce and checks it against the manifest. */
export async function verifyCoordinator(client: PinnedClient, manifest: Manifest): Promise<void> {
  const nonce = new Uint8Array(randomBytes(NONCE_LENGTH));
  const res = await client.call<unknown>('Attest', { nonce: b64(nonce) });
  const evidence = readEvidence(new WireReader('Attest response', res).object('evidence'));
  const verdict = new EvidenceChecker().check(manifest, evidence, coordinatorReportData(client.spki, nonce), new Date());
  if (!verdict.ok) {
    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} failed attestation against the local manifest: ${verdict.reasons.join('; ')}`);
  }
  if (verdict.peer.policy.role !== 'coordinator') {
    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the server at ${client.address} runs policy ${verdict.peer.policyHash}, which the manifest does not give the "coordinator" role`);
  }
}
