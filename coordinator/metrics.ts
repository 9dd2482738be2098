/** The Coordinator's Prometheus metrics, pre-bound at startup; labels come from closed sets only. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { AttestationFailure } from '../contract/attestation/failure.js';

export type { AttestationFailure };

/** Which limit shed a request (a closed set, so it can be a label). */
export type LoadShedLimit = 'attest_per_client' | 'attest_overall' | 'consumed_nonces' | 'held_requests' | 'incomplete_request';

/** Every {@link LoadShedLimit}, for pre-binding. */
export const LOAD_SHED_LIMITS: readonly LoadShedLimit[] = ['attest_per_client', 'attest_overall', 'consumed_nonces', 'held_requests', 'incomplete_request'];

/** A store operation, as timed by ccmesh_coordinator_store_operation_seconds (a closed set: its `op` label). */
export type StoreOp = 'get' | 'compare_and_swap' | 'list';

/** Why the store's `latest` pointer was refused (coordinator/core/coordinator.ts). */
export type HistoryRollbackReason = 'older' | 'diverged' | 'unverified';

/** How one peer recovery attempt ended (`coordinator/peer/peer-recovery.ts`; a closed set: the `result` label). */
export type PeerRecoveryResult = 'recovered' | 'unreachable' | 'refused' | 'untrusted_peer' | 'bad_answer' | 'seed_mismatch' | 'error';

/** How one IssueOperatorCert request ended (a closed set: the `result` label). */
export type OperatorCertResult = 'issued' | 'not_owner' | 'bad_signature' | 'bad_nonce' | 'refused';

/** Every {@link OperatorCertResult}, for pre-binding. */
export const OPERATOR_CERT_RESULTS: readonly OperatorCertResult[] = ['issued', 'not_owner', 'bad_signature', 'bad_nonce', 'refused'];

/** Every {@link PeerRecoveryResult}, for pre-binding. */
export const PEER_RECOVERY_RESULTS: readonly PeerRecoveryResult[] = ['recovered', 'unreachable', 'refused', 'untrusted_peer', 'bad_answer', 'seed_mismatch', 'error'];

const ROLLBACK_REASONS: readonly HistoryRollbackReason[] = ['older', 'diverged', 'unverified'];

/** Coordinator metrics. */
export interface CoordinatorMetrics {
  readonly rpcHandled: Counter<'service' | 'method' | 'code'>;
  readonly attestationFailures: Counter<'reason'>;
  readonly manifestGeneration: Gauge;
  readonly state: Gauge<'state'>;
  readonly issuanceDuration: Histogram<'kind'>;
  readonly certificatesIssued: Counter<'kind'>;
  /** Requests refused with RESOURCE_EXHAUSTED before doing their work, by the limit that refused them. */
  readonly loadShed: Counter<'limit'>;
  /** Latency of each store operation (file or etcd), by operation and outcome. */
  readonly storeOperationSeconds: Histogram<'op' | 'result'>;
  /** The store's `latest` pointers this Coordinator refused to move to, by reason. */
  readonly historyRollbackRefusals: Counter<'reason'>;
  /** Attempts to recover from a ready peer replica, by outcome. */
  readonly peerRecoveries: Counter<'result'>;
  /** IssueOperatorCert requests, by result. */
  readonly operatorCerts: Counter<'result'>;
  /** Marks that the Coordinator has just read the store's `latest` (ccmesh_coordinator_history_sync_age_seconds restarts). */
  historySynced(): void;
}

/** Registers the Coordinator's metrics on `registry`. */
export function createCoordinatorMetrics(registry: Registry): CoordinatorMetrics {
  const registers = [registry];
  let syncedAt = performance.now();
  new Gauge({
    name: 'ccmesh_coordinator_history_sync_age_seconds',
    help: 'Seconds since the Coordinator last read the store\'s latest history pointer (on a watch event or the periodic read); grows while the store is unreachable',
    registers,
    collect() {
      this.set((performance.now() - syncedAt) / 1000);
    },
  });
  const rollbackRefusals = new Counter({ name: 'ccmesh_coordinator_history_rollback_refusals_total', help: 'Latest history pointers in the store that this Coordinator refused to move to (older, on another branch, or not verifiable), by reason', labelNames: ['reason'], registers });
  for (const reason of ROLLBACK_REASONS) rollbackRefusals.inc({ reason }, 0);
  const peerRecoveries = new Counter({ name: 'ccmesh_coordinator_peer_recoveries_total', help: 'Attempts of this Coordinator, in recovery, to obtain the seed from a ready peer replica (ShareSeed), by result', labelNames: ['result'], registers });
  for (const result of PEER_RECOVERY_RESULTS) peerRecoveries.inc({ result }, 0);
  const operatorCerts = new Counter({ name: 'ccmesh_coordinator_operator_certificates_total', help: 'IssueOperatorCert requests (operator client certificates for port-forward), by result: issued, or refused as not_owner, bad_signature, bad_nonce or refused (anything else)', labelNames: ['result'], registers });
  for (const result of OPERATOR_CERT_RESULTS) operatorCerts.inc({ result }, 0);
  return {
    peerRecoveries,
    operatorCerts,
    storeOperationSeconds: new Histogram({ name: 'ccmesh_coordinator_store_operation_seconds', help: 'Time of each store operation (file or etcd), by operation and result', labelNames: ['op', 'result'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers }),
    historyRollbackRefusals: rollbackRefusals,
    historySynced: () => {
      syncedAt = performance.now();
    },
    rpcHandled: new Counter({ name: 'ccmesh_coordinator_rpc_handled_total', help: 'RPCs handled, by service, method and gRPC status code', labelNames: ['service', 'method', 'code'], registers }),
    attestationFailures: new Counter({ name: 'ccmesh_coordinator_attestation_failures_total', help: 'Refused attestation-gated requests, by reason', labelNames: ['reason'], registers }),
    manifestGeneration: new Gauge({ name: 'ccmesh_coordinator_manifest_generation', help: 'Number of manifests in the history (0 when fresh)', registers }),
    state: new Gauge({ name: 'ccmesh_coordinator_state', help: 'Current state: 1 for the state the Coordinator is in', labelNames: ['state'], registers }),
    issuanceDuration: new Histogram({ name: 'ccmesh_coordinator_issuance_duration_seconds', help: 'Time to verify evidence and issue a mesh certificate', labelNames: ['kind'], buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1], registers }),
    certificatesIssued: new Counter({ name: 'ccmesh_coordinator_certificates_issued_total', help: 'Mesh leaf certificates issued', labelNames: ['kind'], registers }),
    loadShed: preBound(new Counter({ name: 'ccmesh_coordinator_load_shed_total', help: 'Requests refused with RESOURCE_EXHAUSTED by a Coordinator limit, by limit', labelNames: ['limit'], registers })),
  };
}

/** Zero every label value, so a scrape shows the series before the first refusal. */
function preBound(counter: Counter<'limit'>): Counter<'limit'> {
  for (const limit of LOAD_SHED_LIMITS) counter.inc({ limit }, 0);
  return counter;
}
