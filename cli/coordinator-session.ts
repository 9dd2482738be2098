/**
 * Connecting to a Coordinator as a person does: wait (with progress and backoff) until it answers, pin its TLS
 * key, and check its evidence against the local manifest's coordinator policy before sending anything that
 * matters. The result is a client whose every call goes to the attested Coordinator.
 */
import { randomBytes } from 'node:crypto';
import { EvidenceChecker } from '../contract/attestation/evidence-check.js';
import type { TdxCollateralProvider } from '../contract/attestation/tdx-collateral.js';
import type { Manifest } from '../contract/manifest/types.js';
import { CcmeshError, describeError, ErrorCode } from '../lib/errors.js';
import { bytesEqual } from '../lib/bytes.js';
import { coordinatorReportData } from '../lib/protocol/binding.js';
import { formatMeshOwnerPin, NO_MESH_OWNER, parseMeshOwnerPin } from '../lib/protocol/mesh-owner.js';
import { PinnedClient } from '../lib/protocol/client.js';
import { type EvidenceMessage, NONCE_LENGTH, type UserApiMethods } from '../lib/protocol/messages.js';
import { decodeMessage, readEvidence } from '../lib/protocol/limits.js';
import type { ApiService } from '../lib/protocol/services.js';
import type { CliIo } from './io.js';

/** Options of {@link attestedSession}. */
export interface SessionOptions {
  /** Give up waiting for the Coordinator after this long (default 120 s). */
  readonly waitMs?: number;
  readonly io: CliIo;
  /** TDX collateral for judging a TDX Coordinator's TCB status (`--tdx-collateral DIR`). */
  readonly tdxCollateral?: TdxCollateralProvider;
}

/** Connects to `address`, waiting while it is unreachable, then verifies it is a Coordinator of `manifest`. */
export async function attestedSession<M extends Pick<UserApiMethods, 'Attest'>>(address: string, service: ApiService<M>, manifest: Manifest, opts: SessionOptions): Promise<PinnedClient<M>> {
  return (await attestedSessionWithOwner(address, service, manifest, opts)).client;
}

/** {@link attestedSession}, also returning the mesh owner the Coordinator serves (bound into its evidence). */
export async function attestedSessionWithOwner<M extends Pick<UserApiMethods, 'Attest'>>(
  address: string,
  service: ApiService<M>,
  manifest: Manifest,
  opts: SessionOptions,
): Promise<{ client: PinnedClient<M> } & VerifiedCoordinator> {
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    let client: PinnedClient<M> | undefined;
    try {
      client = await PinnedClient.connect(address, service);
      const verified = await verifyCoordinator(client, manifest, new EvidenceChecker(opts.tdxCollateral ? { tdxCollateral: opts.tdxCollateral } : {}));
      return { client, ...verified };
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

/** What a verified Coordinator told us with its evidence. */
export interface VerifiedCoordinator {
  /** The mesh owner it serves (bound into its evidence); {@link NO_MESH_OWNER} when it serves none yet. */
  readonly meshOwner: Uint8Array;
}

/**
 * Asks the pinned Coordinator for evidence over a fresh nonce and checks it against the manifest. With
 * `expectedOwner`, a Coordinator that serves another mesh owner — or none — is refused; the owner it claims is bound
 * into the evidence, so the claim is as trustworthy as the Coordinator's image.
 */
export async function verifyCoordinator<M extends Pick<UserApiMethods, 'Attest'>>(
  client: PinnedClient<M>,
  manifest: Manifest,
  checker: EvidenceChecker = new EvidenceChecker(),
  expectedOwner?: Uint8Array,
): Promise<VerifiedCoordinator> {
  const nonce = new Uint8Array(randomBytes(NONCE_LENGTH));
  const res = await (client as unknown as PinnedClient<Pick<UserApiMethods, 'Attest'>>).call('Attest', { nonce });
  let evidence;
  try {
    // The Coordinator is not trusted yet: its evidence gets the same field limits as evidence a pod sends.
    evidence = readEvidence('Attest response.evidence', decodeMessage('Attest response.evidence', 'Evidence', res.evidence) as EvidenceMessage);
  } catch (err) {
    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} answered Attest without usable evidence: ${describeError(err)}`);
  }
  const ownerText = res.meshOwner;
  const meshOwner = ownerText === '' ? NO_MESH_OWNER : parseMeshOwnerPin(ownerText);
  if (meshOwner === undefined) throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} named a malformed mesh owner ${JSON.stringify(ownerText)}`);
  const verdict = await checker.checkWithCollateral(manifest, evidence, coordinatorReportData(client.spki, nonce, meshOwner), new Date());
  if (!verdict.ok) {
    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} failed attestation against the local manifest: ${verdict.reasons.join('; ')}`);
  }
  if (verdict.peer.policy.role !== 'coordinator') {
    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the server at ${client.address} runs policy ${verdict.peer.policyHash}, which the manifest does not give the "coordinator" role`);
  }
  if (expectedOwner !== undefined && !bytesEqual(meshOwner, expectedOwner)) {
    const served = formatMeshOwnerPin(meshOwner);
    throw new CcmeshError(
      ErrorCode.ATTEST_COORDINATOR_WRONG_OWNER,
      served === ''
        ? `the Coordinator at ${client.address} is genuine but serves no mesh (fresh or awaiting recovery), not mesh owner ${formatMeshOwnerPin(expectedOwner)}`
        : `the Coordinator at ${client.address} is genuine but serves mesh owner ${served}, not the pinned ${formatMeshOwnerPin(expectedOwner)}: its store was reset or it belongs to another owner`,
    );
  }
  return { meshOwner };
}
