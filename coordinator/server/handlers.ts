/**
 * The gRPC edge: decode each request with the wire reader, call the core, map the outcome to exactly one status,
 * log and count it once. Nothing thrown below reaches grpc-js unmapped, so a malformed peer never crashes the
 * process: unexpected faults become INTERNAL with a generic message.
 */
import { type sendUnaryData, type ServerUnaryCall, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import { formatMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import { type AttestResponse, NONCE_LENGTH, readEvidence, writeEvidence } from '../../lib/protocol/messages.js';
import { WireError, WireReader, b64 } from '../../lib/protocol/wire.js';
import type { Coordinator } from '../core/coordinator.js';
import { Refusal } from '../core/refusal.js';
import { clientAddressOf } from './client-address.js';
import type { CoordinatorMetrics } from '../metrics.js';

type Handler = (req: WireReader, call: ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

function unary(service: string, method: string, handler: Handler, logger: Logger, metrics: CoordinatorMetrics) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const done = (code: status, details: string | undefined, response?: unknown): void => {
      metrics.rpcHandled.inc({ service, method, code: status[code] ?? String(code) });
      if (code === status.OK) callback(null, response);
      else callback({ code, details: details ?? status[code], name: 'Error', message: details ?? '' });
    };
    let reader: WireReader;
    try {
      reader = new WireReader(method, call.request);
    } catch (err) {
      metrics.attestationFailures.inc({ reason: 'malformed' });
      return done(status.INVALID_ARGUMENT, err instanceof Error ? err.message : 'malformed request');
    }
    // Handlers may throw while decoding; run them inside a promise so every error takes the same path.
    Promise.resolve().then(() => handler(reader, call)).then(
      (response) => done(status.OK, undefined, response),
      (err: unknown) => {
        if (err instanceof Refusal) {
          if (err.failure) metrics.attestationFailures.inc({ reason: err.failure });
          // Shed requests come in floods: they are counted (ccmesh_coordinator_load_shed_total), not logged one by one.
          const log = err.code === status.RESOURCE_EXHAUSTED ? logger.debug : logger.warn;
          log.call(logger, 'request refused', { service, method, code: status[err.code], reason: err.message, peer: call.getPeer() });
          return done(err.code, err.message);
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

/** Attest on either API: the evidence and the mesh owner bound into it. */
async function attestAnswer(core: Coordinator, r: WireReader, call: ServerUnaryCall<unknown, unknown>): Promise<AttestResponse> {
  const { evidence, meshOwner } = await core.attest(r.bytes('nonce', NONCE_LENGTH, NONCE_LENGTH), clientAddressOf(call));
  return { evidence: writeEvidence(evidence), meshOwner: formatMeshOwnerPin(meshOwner) };
}

/** Implementation of the UserAPI service. */
export function userApiImplementation(core: Coordinator, logger: Logger, metrics: CoordinatorMetrics): UntypedServiceImplementation {
  const s = 'UserAPI';
  return {
    GetNonce: unary(s, 'GetNonce', () => Promise.resolve({ nonce: b64(core.nonce()) }), logger, metrics),
    Attest: unary(s, 'Attest', (r, call) => attestAnswer(core, r, call), logger, metrics),
    SetManifest: unary(s, 'SetManifest', (r, call) => {
      const nonce = r.optionalBytes('nonce', NONCE_LENGTH, NONCE_LENGTH);
      const ownerKey = r.optionalString('ownerKey', 4096);
      const signature = r.optionalBytes('signature', 8, 1024);
      return core.setManifest({
        manifest: r.bytes('manifest', 2, 1024 * 1024),
        policies: r.bytesList('policies', 10_000, 1024 * 1024),
        ...(nonce ? { nonce } : {}),
        ...(ownerKey ? { ownerKey } : {}),
        ...(signature ? { signature } : {}),
        client: clientAddressOf(call),
      });
    }, logger, metrics),
    GetManifests: unary(s, 'GetManifests', () => core.getManifests(), logger, metrics),
    Recover: unary(s, 'Recover', async (r, call) => {
      await core.recover({
        seed: r.bytes('seed', 64, 64),
        salt: r.bytes('salt', 32, 32),
        nonce: r.bytes('nonce', NONCE_LENGTH, NONCE_LENGTH),
        ownerKey: r.string('ownerKey', 4096),
        signature: r.bytes('signature', 64, 1024),
        client: clientAddressOf(call),
      });
      return {};
    }, logger, metrics),
  };
}

/** Implementation of the MeshAPI service. */
export function meshApiImplementation(core: Coordinator, logger: Logger, metrics: CoordinatorMetrics): UntypedServiceImplementation {
  const s = 'MeshAPI';
  return {
    GetNonce: unary(s, 'GetNonce', () => Promise.resolve({ nonce: b64(core.nonce()) }), logger, metrics),
    Attest: unary(s, 'Attest', (r, call) => attestAnswer(core, r, call), logger, metrics),
    NewMeshCert: unary(s, 'NewMeshCert', (r, call) =>
      core.newMeshCert({ evidence: readEvidence(r.object('evidence')), publicKey: r.bytes('publicKey', 32, 1024), nonce: r.bytes('nonce', NONCE_LENGTH, NONCE_LENGTH), client: clientAddressOf(call) }), logger, metrics),
    RenewMeshCert: unary(s, 'RenewMeshCert', (r, call) => {
      const evidence = r.optionalObject('evidence');
      return core.renewMeshCert({
        certChain: r.string('certChain', 64 * 1024),
        publicKey: r.bytes('publicKey', 32, 1024),
        nonce: r.bytes('nonce', NONCE_LENGTH, NONCE_LENGTH),
        signature: r.bytes('signature', 8, 1024),
        ...(evidence ? { evidence: readEvidence(evidence) } : {}),
        client: clientAddressOf(call),
      });
    }, logger, metrics),
    GetTrustBundle: unary(s, 'GetTrustBundle', () => Promise.resolve(core.trustBundle()), logger, metrics),
  };
}
