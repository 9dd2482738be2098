/**
 * The gRPC edge: check each decoded request against its field limits, call the core, map the outcome to exactly one status,
 * log and count it once. Nothing thrown below reaches grpc-js unmapped, so a malformed peer never crashes the
 * process: unexpected faults become INTERNAL with a generic message.
 */
import { type sendUnaryData, type ServerUnaryCall, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { decodeMessage, readEvidence } from '../../lib/protocol/limits.js';
import { formatMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import { type AttestRequest, type AttestResponse, evidenceMessage, type NewMeshCertRequest, type OperatorCertRequest, type RecoverRequest, type RenewMeshCertRequest, type SetManifestRequest, type ShareSeedRequest } from '../../lib/protocol/messages.js';
import { WireError } from '../../lib/protocol/wire.js';
import type { Coordinator } from '../core/coordinator.js';
import { Refusal } from '../core/refusal.js';
import { clientAddressOf } from './client-address.js';
import type { CoordinatorMetrics } from '../metrics.js';

type Handler<Req> = (req: Req, call: ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

/**
 * One unary RPC: check the decoded request against its per-field limits (`lib/protocol/limits.ts`, by the request's
 * message name), call the handler, answer exactly one status.
 */
function unary<Req>(service: string, method: string, requestType: string, handler: Handler<Req>, logger: Logger, metrics: CoordinatorMetrics) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const done = (code: status, details: string | undefined, response?: unknown): void => {
      metrics.rpcHandled.inc({ service, method, code: status[code] ?? String(code) });
      if (code === status.OK) callback(null, response);
      else callback({ code, details: details ?? status[code], name: 'Error', message: details ?? '' });
    };
    let request: Req;
    try {
      request = decodeMessage(method, requestType, call.request) as Req;
    } catch (err) {
      metrics.attestationFailures.inc({ reason: 'malformed' });
      return done(status.INVALID_ARGUMENT, err instanceof Error ? err.message : 'malformed request');
    }
    // Handlers may throw while decoding; run them inside a promise so every error takes the same path.
    Promise.resolve().then(() => handler(request, call)).then(
      (response) => done(status.OK, undefined, response),
      (err: unknown) => {
        if (err instanceof Refusal) {
          if (err.failure) metrics.attestationFailures.inc({ reason: err.failure });
          // Shed requests come in floods: they are counted (ccmesh_coordinator_load_shed_total), not logged one by one.
          const log = err.code === status.RESOURCE_EXHAUSTED ? logger.debug : logger.warn;
          log.call(logger, 'request refused', { service, method, code: status[err.code], reason: err.message, peer: call.getPeer() });
          return done(err.code, err.message);
        }
        if (err instanceof CcmeshError && err.code === ErrorCode.STORE_UNAVAILABLE) {
          // The replica keeps serving what it verified; what needs the store waits for it.
          logger.warn('request needs the store, which is unavailable', { service, method, error: err.message });
          return done(status.UNAVAILABLE, 'the Coordinator\'s store is unavailable right now; retry later');
        }
        if (err instanceof CcmeshError && err.code === ErrorCode.STORE_IO) {
          // A write the store's disk refused (full, read-only, failing): nothing was changed, and the operator can fix
          // it. The client learns the kind of failure, never the path.
          logger.error('request failed: the store could not be read or written', { service, method, err });
          return done(status.UNAVAILABLE, `the Coordinator's store failed (${storeFailureKind(err)}); the request was not carried out — retry once the store is fixed`);
        }
        if (err instanceof WireError) {
          metrics.attestationFailures.inc({ reason: 'malformed' });
          return done(status.INVALID_ARGUMENT, err.message);
        }
        logger.error('request failed', { service, method, err, peer: call.getPeer() });
        done(status.INTERNAL, 'internal error (logged by the Coordinator)');
      },
    );
  };
}

/** Store failures a client may learn of, by errno; anything else is an "I/O error". */
const STORE_FAILURE_KINDS: Readonly<Record<string, string>> = Object.freeze({
  ENOSPC: 'no space left on its disk',
  EDQUOT: 'its disk quota is exhausted',
  EROFS: 'its file system is read-only',
  EACCES: 'permission denied on its files',
  EPERM: 'permission denied on its files',
  EIO: 'an I/O error on its disk',
});

function storeFailureKind(err: CcmeshError): string {
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined ? STORE_FAILURE_KINDS[code] : undefined) ?? 'an I/O error';
}

/** Attest on either API: the evidence and the mesh owner bound into it. */
async function attestAnswer(core: Coordinator, req: AttestRequest, call: ServerUnaryCall<unknown, unknown>): Promise<AttestResponse> {
  const { evidence, meshOwner } = await core.attest(req.nonce, clientAddressOf(call));
  return { evidence: evidenceMessage(evidence), meshOwner: formatMeshOwnerPin(meshOwner) };
}

const empty = (): Record<string, never> => ({});

/** Implementation of the UserAPI service. */
export function userApiImplementation(core: Coordinator, logger: Logger, metrics: CoordinatorMetrics): UntypedServiceImplementation {
  const s = 'UserAPI';
  return {
    GetNonce: unary(s, 'GetNonce', 'GetNonceRequest', () => Promise.resolve({ nonce: core.nonce() }), logger, metrics),
    Attest: unary<AttestRequest>(s, 'Attest', 'AttestRequest', (req, call) => attestAnswer(core, req, call), logger, metrics),
    SetManifest: unary<SetManifestRequest>(s, 'SetManifest', 'SetManifestRequest', (req, call) => core.setManifest({ ...req, client: clientAddressOf(call) }), logger, metrics),
    GetManifests: unary(s, 'GetManifests', 'GetManifestsRequest', () => core.getManifests(), logger, metrics),
    Recover: unary<RecoverRequest>(s, 'Recover', 'RecoverRequest', async (req, call) => {
      await core.recover({ ...req, client: clientAddressOf(call) });
      return empty();
    }, logger, metrics),
    IssueOperatorCert: unary<OperatorCertRequest>(s, 'IssueOperatorCert', 'OperatorCertRequest', (req, call) => core.issueOperatorCert({ ...req, client: clientAddressOf(call) }), logger, metrics),
  };
}

/** Implementation of the MeshAPI service. */
export function meshApiImplementation(core: Coordinator, logger: Logger, metrics: CoordinatorMetrics): UntypedServiceImplementation {
  const s = 'MeshAPI';
  return {
    GetNonce: unary(s, 'GetNonce', 'GetNonceRequest', () => Promise.resolve({ nonce: core.nonce() }), logger, metrics),
    Attest: unary<AttestRequest>(s, 'Attest', 'AttestRequest', (req, call) => attestAnswer(core, req, call), logger, metrics),
    NewMeshCert: unary<NewMeshCertRequest>(s, 'NewMeshCert', 'NewMeshCertRequest', (req, call) =>
      core.newMeshCert({ evidence: readEvidence('NewMeshCert.evidence', req.evidence!), publicKey: req.publicKey, nonce: req.nonce, client: clientAddressOf(call) }), logger, metrics),
    RenewMeshCert: unary<RenewMeshCertRequest>(s, 'RenewMeshCert', 'RenewMeshCertRequest', (req, call) =>
      core.renewMeshCert({
        certChain: req.certChain,
        publicKey: req.publicKey,
        nonce: req.nonce,
        signature: req.signature,
        newKeySignature: req.newKeySignature,
        ...(req.evidence ? { evidence: readEvidence('RenewMeshCert.evidence', req.evidence) } : {}),
        client: clientAddressOf(call),
      }), logger, metrics),
    GetTrustBundle: unary(s, 'GetTrustBundle', 'GetTrustBundleRequest', () => Promise.resolve(core.trustBundle()), logger, metrics),
    ShareSeed: unary<ShareSeedRequest>(s, 'ShareSeed', 'ShareSeedRequest', (req, call) =>
      core.shareSeed({ evidence: readEvidence('ShareSeed.evidence', req.evidence!), publicKey: req.publicKey, nonce: req.nonce, client: clientAddressOf(call) }), logger, metrics),
  };
}
